"""The dashboard's median handling time, read through the handling-time counters
(`decision_handling`) and the middle bucket's decisions, against `statistics.median` of
the rows themselves, over random decisions on both backends.

The decisions are stored rows written here (random times around hour boundaries, kinds,
origins, statuses and seconds spent: many ties, even and odd counts, zero, values on the
bucket bounds and far beyond the last bucket), then changed through plain updates and
deletes (undone, restored, superseded, their seconds or time changed), which the triggers
must follow. The median is compared exactly, not rounded, at read times on and off hour
boundaries and with an empty window; the counters are compared with a recount, also
after migration 0030 counted them afresh.
"""

from __future__ import annotations

import random
import statistics
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest
from alembic import command
from sqlalchemy import delete, select, update
from sqlmodel import Session, col

from modqueue.queue import (
    Decision,
    DecisionHandling,
    DecisionStatus,
    Item,
    ReviewQueue,
    dashboard_metrics,
    is_automated,
    senior_queue,
)
from modqueue.queue._core.db import alembic_config
from modqueue.queue._core.handling import HANDLING_BUCKETS, handling_bucket
from modqueue.queue._read.handling import median_handling_by_queue
from tests.conftest import Clock, make_item

HOUR = timedelta(hours=1)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
WINDOW = timedelta(hours=12)
GUIDELINES = ("people-smuggling", "doxxing", "violent-threats")
KINDS = ("primary", "primary", "second_review", "senior", "appeal")
ORIGINS = ("api", "api", "tui", "bulk", "propagated", "model:v3", "bank")
STATUSES = (DecisionStatus.ACTIVE,) * 5 + (DecisionStatus.SUPERSEDED, DecisionStatus.UNDONE)
EDGES = (0.0, 0.5, 1.0, 59.999, 60.0, 299.0, 300.0, 1800.0, 3599.9, 3600.0, 86_400.0, 1e9)

# fmt: off
WORDS = (
    "amber", "basalt", "cobalt", "dune", "ember", "fjord", "glacier", "harbor", "iris",
    "juniper", "kelp", "lagoon", "meadow", "nectar", "orchard", "prairie", "quartz", "reef",
)
# fmt: on


def _seconds(rng: random.Random) -> float:
    """Ties (whole and tenth seconds), bucket bounds and values past the last bucket."""
    pick = rng.random()
    if pick < 0.3:
        return float(rng.randint(0, 12))
    if pick < 0.45:
        return rng.choice(EDGES)
    if pick < 0.6:
        return round(rng.uniform(0, 400), 1)
    return rng.uniform(0, 5000)


def _decided(rng: random.Random, base: datetime) -> datetime:
    """Mostly within the windows read, some on hour boundaries, some at odd microseconds."""
    at = base - timedelta(seconds=rng.uniform(-3 * 3600, 16 * 3600))
    if rng.random() < 0.2:
        return at.replace(minute=0, second=0, microsecond=0)
    return at


def _store(q: ReviewQueue, base: datetime, rng: random.Random, count: int) -> None:
    """`count` random decisions over a few items, then updates and deletes of some."""
    report = q.enqueue(
        [make_item(n, text=f"{WORDS[n]} river {WORDS[-1 - n]} ferry") for n in range(6)]
    )
    assert report.new == 6

    def write(s: Session) -> None:
        item_ids = [int(i or 0) for i in s.scalars(select(col(Item.id)))]
        for _ in range(count):
            s.add(
                Decision(
                    item_id=rng.choice(item_ids),
                    reviewer="ana",
                    label="fixture",
                    action="none",
                    guideline_id=rng.choice(GUIDELINES),
                    guideline_version="1",
                    seconds_spent=_seconds(rng),
                    decided_at=_decided(rng, base),
                    origin=rng.choice(ORIGINS),
                    kind=rng.choice(KINDS),
                    status=rng.choice(STATUSES),
                )
            )
        s.flush()
        ids = [int(i or 0) for i in s.scalars(select(col(Decision.id)))]
        changes: list[dict[str, Any]] = [
            {"status": DecisionStatus.UNDONE},
            {"status": DecisionStatus.ACTIVE},
            {"status": DecisionStatus.SUPERSEDED},
            {"seconds_spent": 42.0},
            {"decided_at": base - 5 * HOUR},
        ]
        for values in changes:
            chosen = rng.sample(ids, count // 20)
            s.execute(update(Decision).where(col(Decision.id).in_(chosen)).values(**values))
        s.execute(delete(Decision).where(col(Decision.id).in_(rng.sample(ids, count // 20))))

    q.run(write)


def _expected(q: ReviewQueue, since: datetime) -> dict[str, float]:
    """`statistics.median` per queue of the standing human decisions after `since`."""
    spent: dict[str, list[float]] = {}
    with q.session() as s:
        for d in s.scalars(select(Decision)):
            if d.decided_at <= since or d.status == DecisionStatus.UNDONE or is_automated(d.origin):
                continue
            queue = d.guideline_id if d.kind == "primary" else senior_queue(d.guideline_id)
            spent.setdefault(queue, []).append(d.seconds_spent)
    return {queue: statistics.median(values) for queue, values in spent.items()}


def _counters_match_the_rows(q: ReviewQueue) -> None:
    kept: dict[tuple[Any, ...], int] = {}
    recount: dict[tuple[Any, ...], int] = {}
    with q.session() as s:
        for row in s.scalars(select(DecisionHandling)):
            key = (row.hour, row.guideline_id, row.kind, row.origin, row.bucket)
            kept[key] = kept.get(key, 0) + row.n
        for d in s.scalars(select(Decision)):
            if d.status == DecisionStatus.UNDONE:
                continue
            hour = (d.decided_at - EPOCH) // HOUR
            key = (hour, d.guideline_id, d.kind, d.origin, handling_bucket(d.seconds_spent))
            recount[key] = recount.get(key, 0) + 1
    assert {k: n for k, n in kept.items() if n} == recount
    assert all(0 <= key[4] < HANDLING_BUCKETS for key in recount)


@pytest.mark.parametrize("seed", [1, 2])
def test_median_is_statistics_median_of_the_rows(
    review_queue: ReviewQueue, clock: Clock, seed: int
) -> None:
    rng = random.Random(seed)
    base = (clock() + 20 * HOUR).replace(minute=0, second=0, microsecond=0)
    _store(review_queue, base, rng, 700)
    _counters_match_the_rows(review_queue)
    nows = [base, base + timedelta(microseconds=1), base - timedelta(microseconds=1)]
    nows += [base + timedelta(minutes=37, seconds=12.5), base - 2 * HOUR + timedelta(minutes=1)]
    nows += [base + 3 * HOUR + timedelta(seconds=0.999999), base + 40 * HOUR]
    # Either side of the half hour, where the nearest hour boundary changes sides.
    nows += [base + HOUR / 2, base + HOUR / 2 - timedelta(microseconds=1)]
    for now in nows:
        since = now - WINDOW
        expected = _expected(review_queue, since)
        got = review_queue.read(partial(median_handling_by_queue, since=since))
        assert got == expected, now
        board = review_queue.read(partial(dashboard_metrics, now=now))
        shown = {h.queue: h.median_handling_seconds for h in board.queues}
        for queue in set(shown) | set(expected):
            median = expected.get(queue)
            assert shown.get(queue) == (None if median is None else round(median, 1)), queue
    # The plan is not trivial: medians of odd and even counts, and an empty window.
    at_base = _expected(review_queue, base - WINDOW)
    assert len(at_base) == 2 * len(GUIDELINES)
    assert _expected(review_queue, base + 40 * HOUR - WINDOW) == {}


def test_a_queue_of_one_value_and_of_two_equal_values(
    review_queue: ReviewQueue, clock: Clock
) -> None:
    q = review_queue
    assert q.enqueue([make_item(1, text="lagoon ferry timetable notes")]).new == 1
    now = clock() + 2 * HOUR

    def write(s: Session) -> None:
        item_id = int(s.scalars(select(col(Item.id))).one() or 0)
        for guideline, kind, seconds in (
            ("doxxing", "primary", 1e12),
            ("people-smuggling", "senior", 7.25),
            ("people-smuggling", "appeal", 7.25),
        ):
            s.add(
                Decision(
                    item_id=item_id,
                    reviewer="ana",
                    label="fixture",
                    action="none",
                    guideline_id=guideline,
                    guideline_version="1",
                    seconds_spent=seconds,
                    decided_at=now - HOUR,
                    kind=kind,
                )
            )

    q.run(write)
    got = q.read(partial(median_handling_by_queue, since=now - WINDOW))
    assert got == {"doxxing": 1e12, "people-smuggling:senior": 7.25}


def test_the_backfill_counts_what_the_triggers_counted(
    review_queue: ReviewQueue, clock: Clock
) -> None:
    rng = random.Random(3)
    base = (clock() + 20 * HOUR).replace(minute=0, second=0, microsecond=0)
    _store(review_queue, base, rng, 300)
    since = base - WINDOW + timedelta(minutes=12)
    before = review_queue.read(partial(median_handling_by_queue, since=since))
    assert before == _expected(review_queue, since)

    config = alembic_config(review_queue.engine)
    command.downgrade(config, "0029_dash3_after_deadline")
    command.upgrade(config, "heads")

    _counters_match_the_rows(review_queue)
    assert review_queue.read(partial(median_handling_by_queue, since=since)) == before
