"""`decision.after_deadline` and the `decision_minute` counters: every path that writes
decisions records whether the item's deadline had passed and is counted, and the
dashboard's missed deadlines and hourly series (which read the flag and the counters, not
the items) stay those of the rows through undo, reverse, supersede, cluster and set
decisions, and after migration 0028 backfills a filled database. On both backends.

Every check compares with the rows themselves: a decision missed its deadline when it was
made after its item's `deadline_at` (no deadline here changes after a decision); the
dashboard's `deadline_breaches` of a queue are its open items past their deadline plus its
decisions in the window, still standing and made by a person, that missed theirs; the
per-minute counters (`decision_minute`) are those of the standing decisions.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from alembic import command
from sqlalchemy import select, update
from sqlmodel import Session, col

from modqueue.queue import (
    Annotation,
    Decision,
    DecisionMinute,
    DecisionStatus,
    Item,
    ItemStatus,
    ReviewQueue,
    dashboard_metrics,
    decide_items,
    is_automated,
    record_annotation,
    senior_queue,
    supersede_decision,
)
from modqueue.queue._core.db import alembic_config
from tests.conftest import Clock, make_item
from tests.support.clusters import seed_cluster

REMOVE = "remove-fake-documents"
KEEP = "no-violation"
WINDOW = timedelta(hours=12)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# fmt: off
WORDS = (
    "amber", "basalt", "cobalt", "dune", "ember", "fjord", "glacier", "harbor", "iris",
    "juniper", "kelp", "lagoon", "meadow", "nectar", "orchard", "prairie", "quartz", "reef",
    "saffron", "tundra", "umber", "valley", "willow", "xylem", "yarrow", "zephyr",
)
# fmt: on


def _enqueue(q: ReviewQueue, ns: range) -> list[int]:
    """Items `ns` with distinct texts (texts differing in digits alone would cluster)."""
    items = [make_item(n, text=f"{WORDS[n]} crossing {WORDS[-1 - n]} boat seats") for n in ns]
    assert q.enqueue(items).new == len(items)
    with q.session() as s:
        found = s.scalars(
            select(col(Item.id))
            .where(col(Item.external_id).in_([f"post-{n}" for n in ns]))
            .order_by(col(Item.id))
        )
        return [int(i or 0) for i in found]


def _set_deadlines(q: ReviewQueue, late: list[int], on_time: list[int], now: datetime) -> None:
    """Deadlines a minute ago for `late`, in an hour for `on_time`."""
    with q.session() as s:
        for ids, deadline in (
            (late, now - timedelta(minutes=1)),
            (on_time, now + timedelta(hours=1)),
        ):
            s.execute(update(Item).where(col(Item.id).in_(ids)).values(deadline_at=deadline))


def _flags(q: ReviewQueue) -> dict[int, bool]:
    """Every decision's `after_deadline`, after checking it against the times."""
    with q.session() as s:
        rows = s.execute(
            select(
                col(Decision.id),
                col(Decision.after_deadline),
                col(Decision.decided_at),
                col(Item.deadline_at),
            )
            .join(Item, col(Item.id) == col(Decision.item_id))
            .order_by(col(Decision.id))
        ).all()
    for decision_id, flag, decided, deadline in rows:
        assert bool(flag) == (decided > deadline), decision_id
    return {int(d): bool(f) for d, f, _, _ in rows}


def _expected_breaches(q: ReviewQueue, now: datetime) -> dict[str, int]:
    """Per queue: open items past their deadline plus the window's standing human
    decisions made after their item's deadline, from the rows."""
    out: dict[str, int] = {}
    with q.session() as s:
        for queue, status, deadline in s.execute(
            select(col(Item.queue), col(Item.status), col(Item.deadline_at))
        ):
            if status in (ItemStatus.PENDING, ItemStatus.CLAIMED) and deadline < now:
                out[queue] = out.get(queue, 0) + 1
        rows = s.execute(
            select(Decision, col(Item.deadline_at)).join(
                Item, col(Item.id) == col(Decision.item_id)
            )
        )
        for decision, deadline in rows:
            if (
                decision.decided_at <= now - WINDOW
                or decision.status == DecisionStatus.UNDONE
                or is_automated(decision.origin)
                or not decision.decided_at > deadline
            ):
                continue
            queue = (
                decision.guideline_id
                if decision.kind == "primary"
                else senior_queue(decision.guideline_id)
            )
            out[queue] = out.get(queue, 0) + 1
    return out


def _breaches(q: ReviewQueue, now: datetime) -> dict[str, int]:
    metrics = q.run(partial(dashboard_metrics, now=now))
    return {h.queue: h.deadline_breaches for h in metrics.queues if h.deadline_breaches}


def _minute_counts(
    q: ReviewQueue,
) -> tuple[dict[tuple[Any, ...], list[int]], dict[tuple[Any, ...], list[int]]]:
    """`decision_minute` summed over its slots, and the same counted from the decisions
    (standing ones: not undone), per (minute, guideline, kind, origin): [n, late]."""
    kept: dict[tuple[Any, ...], list[int]] = {}
    recount: dict[tuple[Any, ...], list[int]] = {}
    with q.session() as s:
        for row in s.scalars(select(DecisionMinute)):
            got = kept.setdefault((row.minute, row.guideline_id, row.kind, row.origin), [0, 0])
            got[0] += row.n
            got[1] += row.late
        for d in s.scalars(select(Decision)):
            if d.status == DecisionStatus.UNDONE:
                continue
            minute = (d.decided_at - EPOCH) // timedelta(minutes=1)
            got = recount.setdefault((minute, d.guideline_id, d.kind, d.origin), [0, 0])
            got[0] += 1
            got[1] += int(d.after_deadline)
    return {k: v for k, v in kept.items() if v != [0, 0]}, recount


def _check(q: ReviewQueue, clock: Clock) -> dict[int, bool]:
    flags = _flags(q)
    kept, recount = _minute_counts(q)
    assert kept == recount
    assert _breaches(q, clock()) == _expected_breaches(q, clock())
    return flags


def test_decide_and_undo_keep_the_missed_deadlines_right(
    review_queue: ReviewQueue, clock: Clock
) -> None:
    q = review_queue
    ids = _enqueue(q, range(4))
    _set_deadlines(q, late=ids[2:], on_time=ids[:2], now=clock())
    clock.advance(minutes=2)
    made = {}
    for item_id, label in zip(ids, (REMOVE, KEEP, REMOVE, KEEP), strict=True):
        made[item_id] = q.decide(q.claim(item_id, "ana"), label).id
    flags = _check(q, clock)
    assert [flags[made[i]] for i in ids] == [False, False, True, True]
    # Undone: no longer counted; decided again (still late): counted again.
    claim = q.undo(made[ids[2]], "ana")
    assert _check(q, clock)[made[ids[2]]] is True
    assert sum(_breaches(q, clock()).values()) == sum(_expected_breaches(q, clock()).values())
    again = q.decide(claim, KEEP)
    assert _check(q, clock)[again.id] is True
    # Out of the window: the decisions no longer count.
    clock.advance(hours=13)
    _check(q, clock)


def test_annotations_and_superseding_record_the_deadline(
    review_queue: ReviewQueue, clock: Clock
) -> None:
    q = review_queue
    ids = _enqueue(q, range(2))
    _set_deadlines(q, late=[ids[1]], on_time=[ids[0]], now=clock())
    clock.advance(minutes=2)
    first = q.decide(q.claim(ids[0], "ana"), REMOVE)

    def note(label: str) -> Annotation:
        return Annotation(
            reviewer="lsa", label=label, note="", seconds_spent=12.5, origin="labelstudio"
        )

    extra = q.run(
        lambda s: record_annotation(
            s, item_id=ids[1], annotation=note(KEEP), guidelines=q.guidelines, now=clock()
        )
    )
    clock.advance(hours=2)  # past the first item's deadline now
    newer = q.run(
        lambda s: supersede_decision(
            s, decision_id=first.id, annotation=note(KEEP), guidelines=q.guidelines, now=clock()
        )
    )
    flags = _check(q, clock)
    assert (flags[first.id], flags[extra.id], flags[newer.id]) == (False, True, True)


def test_cluster_decide_undo_and_reverse_keep_the_missed_deadlines_right(
    review_queue: ReviewQueue, clock: Clock
) -> None:
    q = review_queue
    ids = _enqueue(q, range(6))
    cluster_id = seed_cluster(q, ids)
    _set_deadlines(q, late=ids[::2], on_time=ids[1::2], now=clock())
    clock.advance(minutes=2)
    made = q.decide_cluster(cluster_id, "alice", REMOVE)
    flags = _check(q, clock)
    with q.session() as s:
        mine = s.execute(
            select(col(Decision.item_id), col(Decision.id)).where(
                col(Decision.cluster_decision_id) == made.id
            )
        ).all()
    assert len(mine) == 6
    assert {item_id: flags[d] for item_id, d in mine} == {i: i in ids[::2] for i in ids}
    assert q.undo_cluster(made.id, "alice")
    _check(q, clock)
    again = q.decide_cluster(cluster_id, "alice", REMOVE)
    clock.advance(minutes=5)
    q.reverse_cluster(again.id, "sam", "not the same advert")
    _check(q, clock)


def test_a_set_decision_records_each_items_deadline(
    review_queue: ReviewQueue, clock: Clock
) -> None:
    q = review_queue
    ids = _enqueue(q, range(8))
    _set_deadlines(q, late=ids[:3], on_time=ids[3:], now=clock())
    clock.advance(minutes=2)

    def bulk(s: Session) -> dict[int, int]:
        outcome = decide_items(
            s,
            item_ids=ids,
            reviewer="lead",
            label=KEEP,
            guidelines=q.guidelines,
            now=clock(),
            origin="bulk",
            second_review=ids[-1:],
        )
        return outcome.decision_ids

    decided = q.run(bulk)
    flags = _check(q, clock)
    assert {i: flags[decided[i]] for i in ids} == {i: i in ids[:3] for i in ids}


def test_the_backfill_gives_the_same_flags_and_dashboard(
    review_queue: ReviewQueue, clock: Clock
) -> None:
    q = review_queue
    ids = _enqueue(q, range(10))
    _set_deadlines(q, late=ids[::3], on_time=[i for i in ids if i not in ids[::3]], now=clock())
    clock.advance(minutes=2)
    for item_id in ids[:6]:
        q.decide(q.claim(item_id, "ana"), REMOVE if item_id % 2 else KEEP)
    cluster_id = seed_cluster(q, ids[6:])
    q.decide_cluster(cluster_id, "alice", KEEP)
    before_flags = _check(q, clock)
    assert any(before_flags.values()) and not all(before_flags.values())
    before = q.run(partial(dashboard_metrics, now=clock()))

    config = alembic_config(q.engine)
    command.downgrade(config, "0028_export3_content_split")
    command.upgrade(config, "heads")

    assert _check(q, clock) == before_flags
    after = q.run(partial(dashboard_metrics, now=clock()))
    assert after.queues == before.queues
    assert after.decided_series == before.decided_series
