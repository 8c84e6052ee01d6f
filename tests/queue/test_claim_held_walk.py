"""The claim of a reviewer held back from the graphic policies (issue 17), on both
backends: with many graphic items on top of the priority order it hands out the other
items in exactly the plain claim's order (triage items without a policy included,
senior-queue items and items the reviewer decided left out); on PostgreSQL it finds the
item with a few probes of `ix_item_pending_claimable_policy` (or walks
`ix_item_pending_claimable` as an index-only scan), skips an item another transaction
holds, locks only the item it takes, and its prepared statement is planned once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlmodel import Session

from modqueue.quality import QualityConfig
from modqueue.queue import ExposureConfig, ReviewQueue
from modqueue.queue._claims import exposure, leases
from modqueue.queue._claims.leases import _claim_statement
from tests.conftest import (
    Clock,
    explain_compiled,
    fresh_pg_database,
    make_item,
    release_pg_database,
)

WORDS = ["alder", "brook", "crest", "dune", "elm", "fern", "glen", "holly", "iris", "juniper"]
WORDS += ["kelp", "lotus", "maple", "nettle", "orchid", "poppy", "quince", "rowan", "sage"]

# violent-threats and image-abuse are graphic; the others are not. A budget of 20 with
# `near` at half: one violent-threats item seen (10 points) holds the reviewer back.
HOLD_AFTER_ONE = ExposureConfig(budget=20, near=0.5)
GRAPHIC = ("image-abuse", "violent-threats")


def words(n: int) -> str:
    """Distinct words for item n (texts differing only in digits would fold together)."""
    return " ".join(WORDS[(n // len(WORDS) ** k) % len(WORDS)] for k in range(3))


def item(n: int, policy: str | None, loud: int) -> dict[str, Any]:
    raw = make_item(
        n, text=f"{words(n)} report about {WORDS[n % len(WORDS)]}", report_count=loud, views=loud
    )
    if policy is None:
        del raw["policy"]  # a triage item
    else:
        raw["policy"] = policy
    return raw


def _mixed(q: ReviewQueue) -> None:
    """Thirty graphic items on top of the order, then twelve others of several policies
    (and triage), louder and quieter, interleaved with more graphic ones."""
    raws = [item(n, GRAPHIC[n % 2], 900 + n) for n in range(30)]
    others = ["doxxing", "hate", "people-smuggling", None]
    raws += [item(100 + n, others[n % 4], 20 + 7 * n) for n in range(12)]
    raws += [item(200 + n, GRAPHIC[n % 2], 25 + 7 * n) for n in range(12)]
    assert q.enqueue(raws).new == len(raws)


def _hold(q: ReviewQueue, reviewer: str) -> None:
    """Show `reviewer` one violent-threats item: from then on they are held back."""
    q.exposure = HOLD_AFTER_ONE
    seen = q.claim_next(reviewer, ["violent-threats"])
    assert seen is not None
    q.release(seen)
    assert q.exposure_status(reviewer).held_back == GRAPHIC


def _expected_order(q: ReviewQueue, reviewer: str) -> list[int]:
    """What the plain claim would hand `reviewer`, one after the other: the pending items
    outside the senior queues and the graphic policies, by priority then id."""
    with q.session() as s:
        rows = s.execute(
            text(
                "SELECT id, priority, policy, queue FROM item WHERE status = 'pending' "
                "AND id NOT IN (SELECT item_id FROM decision WHERE reviewer = :r "
                "AND status = 'active')"
            ),
            {"r": reviewer},
        ).all()
    allowed = [
        (-priority, id_)
        for id_, priority, policy, queue in rows
        if policy not in GRAPHIC and not queue.endswith(":senior")
    ]
    return [id_ for _, id_ in sorted(allowed)]


def _graphic_ids(q: ReviewQueue) -> list[int]:
    with q.session() as s:
        return list(
            s.execute(
                text("SELECT id FROM item WHERE policy IN ('image-abuse', 'violent-threats')")
            ).scalars()
        )


def test_a_held_reviewer_gets_the_other_items_in_priority_order(
    review_queue: ReviewQueue,
) -> None:
    q = review_queue
    _mixed(q)
    _hold(q, "ana")
    expected = _expected_order(q, "ana")
    assert len(expected) == 12
    got = []
    while (claim := q.claim_next("ana")) is not None:
        assert claim.item.policy not in GRAPHIC
        got.append(claim.item_id)
    assert got == expected
    # Someone not held back takes the graphic items on top.
    other = q.claim_next("ben")
    assert other is not None and other.item.policy in GRAPHIC
    graphic = _graphic_ids(q)
    assert other.item_id == min(graphic, key=lambda i: (-q.get_item(i).priority, i))


def test_a_held_reviewer_skips_senior_items_and_items_they_decided(
    database_url: str, clock: Clock
) -> None:
    # Every decision goes to a second review here: the test is about the second-review
    # item the first reviewer may not take.
    q = ReviewQueue(database_url, clock=clock, quality=QualityConfig(second_review_share=1.0))
    try:
        _mixed(q)
        _hold(q, "ana")
        # ana decides the top non-graphic item: it comes back as a second review, which
        # she may not take; ben escalates the next one to the senior queue.
        first = q.claim_next("ana")
        assert first is not None
        guideline = q.guidelines.get(first.item.policy or "triage")
        q.decide(first, next(lab.id for lab in guideline.labels if lab.action == "none"))
        assert q.get_item(first.item_id).queue.endswith(":second")
        second = q.claim_next("ben", [q.get_item(_expected_order(q, "ana")[1]).queue])
        assert second is not None
        q.escalate(second, "needs a senior")
        expected = _expected_order(q, "ana")
        assert first.item_id not in expected and second.item_id not in expected
        got = []
        while (claim := q.claim_next("ana")) is not None:
            got.append(claim.item_id)
        assert got == expected
    finally:
        q.close()


@pytest.fixture
def pg_queue(request: pytest.FixtureRequest, clock: Clock) -> Iterator[ReviewQueue]:
    """A queue on a fresh PostgreSQL database: row locks, index-only scans and prepared
    plans have no SQLite counterpart (SQLite claims under its write lock)."""
    url, name = fresh_pg_database(request.getfixturevalue("pg_template"))
    q = ReviewQueue(url, clock=clock)
    yield q
    q.close()
    release_pg_database(name)


def test_postgresql_finds_a_held_reviewers_item_in_the_indexes(
    pg_queue: ReviewQueue,
) -> None:
    q = pg_queue
    _mixed(q)
    dialect = q.engine.dialect
    compiled = _claim_statement(dialect.name, 0, 2, True)._compiled(dialect)
    assert "LIMIT 1" in compiled.sql and "FOR UPDATE SKIP LOCKED" in compiled.sql
    values: dict[str, Any] = {**compiled.defaults, "h_near": 0.0}  # held back
    for name in ("reviewer", "token", "h_reviewer"):
        values[name] = "ana"
    values |= {"h_graphic_0": GRAPHIC[0], "h_graphic_1": GRAPHIC[1]}
    for name in ("now", "expires", "h_start", "h_now"):
        values[name] = "2026-11-24 08:00:00"
    values |= exposure.ClaimSeen(q.exposure, q.guidelines).params()
    with q.engine.connect() as conn:
        conn.exec_driver_sql("SET enable_seqscan = off")  # a tiny table: no scans
        conn.exec_driver_sql("SET enable_bitmapscan = off")
        plan = "\n".join(str(r[0]) for r in explain_compiled(conn, compiled, values, "EXPLAIN"))
        conn.rollback()
    # A held reviewer's first allowed item: from the policy index, probes only.
    assert "using ix_item_pending_claimable_policy on item policy_first" in plan, plan
    assert "using ix_item_pending_claimable_policy on item policy_step" in plan, plan
    # The walk, when needed: the claim order inside the index, no sort.
    assert "Index Only Scan using ix_item_pending_claimable on item walked" in plan, plan
    assert "Seq Scan on item" not in plan, plan


def test_postgresql_skips_an_item_held_by_another_transaction_and_locks_only_its_own(
    pg_queue: ReviewQueue,
) -> None:
    q = pg_queue
    _mixed(q)
    _hold(q, "ana")
    top, runner_up = _expected_order(q, "ana")[:2]
    graphic_top = _graphic_ids(q)
    with q.engine.connect() as other:
        other.execute(text("SELECT id FROM item WHERE id = :i FOR UPDATE"), {"i": top})
        now = q.clock()
        with Session(q.engine) as s, s.begin():
            claim = leases.claim_next(
                s,
                reviewer="ana",
                queues=None,
                lease_seconds=60,
                now=now,
                hold=exposure.claim_hold(
                    reviewer="ana", now=now, config=q.exposure, guidelines=q.guidelines
                ),
                seen=exposure.claim_seen(q.exposure, q.guidelines),
            )
            assert claim is not None and claim.item_id == runner_up
            # Still inside the claim's transaction: of the items walked past, none is
            # locked (a third transaction can lock them all), only the one taken.
            with q.engine.connect() as third:
                free = third.execute(
                    text("SELECT id FROM item WHERE id = ANY(:ids) FOR UPDATE SKIP LOCKED"),
                    {"ids": [*graphic_top, top, runner_up]},
                ).scalars()
                assert sorted(free) == sorted(graphic_top)
                third.rollback()
        other.rollback()


def test_postgresql_plans_the_prepared_claim_once(pg_queue: ReviewQueue) -> None:
    q = pg_queue
    _mixed(q)
    _hold(q, "ana")
    # psycopg prepares a statement on its fifth run; the server plans the first five
    # executions of a prepared statement for their values, then generically if that
    # costs no more: by the sixteenth claim the claim's plan is generic.
    for _ in range(16):
        claim = q.claim_next("ana")
        assert claim is not None
        q.release(claim)
    with q.engine.connect() as conn:
        plans = conn.execute(
            text(
                "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
                "WHERE starts_with(statement, :claim)"
            ),
            {"claim": "WITH RECURSIVE claim_policies"},
        ).all()
    assert plans, "the claim statement is not prepared"
    assert all(generic > 0 for generic, _ in plans), plans
