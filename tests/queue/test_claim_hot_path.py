"""The claim hot path (issue 17), on both backends: senior-queue items on top of the
priority order do not stand in a non-senior's way (and the claim reads the partial index
of the non-senior order, not past them), the exposure a claim adds is what
`record_exposure` counts when the claim statement writes it, a claim takes the few
statements it should, and a PostgreSQL connection lost in the pool is replaced without
the caller seeing it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event, select, text
from sqlmodel import col

from modqueue.queue import ExposureConfig, ExposureEvent, ReviewQueue
from modqueue.queue._claims.leases import _claim_statement
from modqueue.queue._core import db as core_db
from modqueue.queue._core.routing import policy_numbers
from tests.conftest import (
    Clock,
    explain_compiled,
    fresh_pg_database,
    make_item,
    release_pg_database,
)

WORDS = ["amber", "birch", "cedar", "delta", "ember", "fjord", "grove", "heath", "inlet"]
WORDS += ["jetty", "knoll", "larch", "marsh", "nook", "oasis", "pine", "quay", "ridge"]


def words(n: int) -> str:
    """Distinct words for item n (texts differing only in digits would fold together)."""
    return " ".join(WORDS[(n // len(WORDS) ** k) % len(WORDS)] for k in range(3))


def item(n: int, **overrides: Any) -> dict[str, Any]:
    return make_item(n, text=f"{words(n)} crossing offer {WORDS[n % len(WORDS)]}", **overrides)


def test_senior_items_on_top_do_not_stand_in_a_non_seniors_way(
    review_queue: ReviewQueue,
) -> None:
    q = review_queue
    # Twenty loud items, escalated: they sit at the top of the priority order, in the
    # senior queue; then one quiet item, the only one a non-senior may take.
    loud = [item(n, report_count=500, views=2_000_000) for n in range(20)]
    assert q.enqueue(loud).new == 20
    for _ in range(20):
        claim = q.claim_next("ana")
        assert claim is not None
        q.escalate(claim, "needs a senior")
    assert q.enqueue([item(99, report_count=1, views=3)]).new == 1
    quiet = q.claim_next("ben")
    assert quiet is not None and quiet.item.external_id == "post-99"
    assert quiet.queue == "people-smuggling"
    assert q.claim_next("ben") is None  # only senior work is left
    senior = q.claim_next("cleo", ["people-smuggling:senior"])
    assert senior is not None and senior.queue == "people-smuggling:senior"
    top = max(range(20), key=lambda n: (q.get_item(n + 1).priority, -(n + 1)))
    assert senior.item_id == top + 1


def _claim_plan(q: ReviewQueue) -> str:
    """The plan of the claim statement itself (every queue but the senior ones, an
    exposure hold on two graphic policies), as the driver is given it."""
    dialect = q.engine.dialect
    compiled = _claim_statement(
        dialect.name, 0, 2, False, indexed=dialect.name == "sqlite"
    )._compiled(dialect)
    values: dict[str, Any] = {**compiled.defaults, "h_near": 10.0}
    for name in ("reviewer", "token", "h_reviewer", "h_graphic_0", "h_graphic_1"):
        values[name] = "x"
    for name in ("now", "expires", "h_start", "h_now"):
        values[name] = "2026-11-24 08:00:00"
    with q.engine.connect() as conn:
        if dialect.name == "postgresql":
            conn.exec_driver_sql("SET enable_seqscan = off")  # a tiny table: no scans
            rows = explain_compiled(conn, compiled, values, "EXPLAIN")
        else:
            rows = explain_compiled(conn, compiled, values, "EXPLAIN QUERY PLAN")
        conn.rollback()
    return "\n".join(str(r[-1]) for r in rows)


def test_the_claim_reads_the_partial_index_of_the_non_senior_order(
    review_queue: ReviewQueue,
) -> None:
    q = review_queue
    assert q.enqueue([item(n) for n in range(5)]).new == 5
    if q.engine.dialect.name == "postgresql":
        sql = "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_item_pending_claimable'"
    else:
        sql = "SELECT sql FROM sqlite_master WHERE name = 'ix_item_pending_claimable'"
    with q.engine.connect() as conn:
        definition = str(conn.execute(text(sql)).scalar_one())
    assert "'%:senior'" in definition  # the condition the claim repeats, not a parameter
    plan = _claim_plan(q)
    assert "ix_item_pending_claimable" in plan, plan
    # Read in order. On PostgreSQL a held reviewer's first allowed item is the best of
    # the first item of each policy (`_claims.candidates.first_allowed`): that sort of a
    # few rows is the only one.
    sorts = [line for line in plan.splitlines() if "Sort Key:" in line]
    assert all("policy_first" in line for line in sorts), plan
    assert "TEMP B-TREE" not in plan, plan
    if q.engine.dialect.name == "postgresql":
        # The "not decided by this reviewer" check probes each item walked, never a
        # join that reads all of `decision` first.
        assert "SubPlan" in plan and "Anti Join" not in plan, plan


def test_the_exposure_a_claim_adds_is_what_record_exposure_counts(
    review_queue: ReviewQueue,
) -> None:
    q = review_queue
    q.exposure = ExposureConfig(budget=10_000)  # room for every claim below
    policies = ["violent-threats", "doxxing", "people-smuggling", "image-abuse", "hate"]
    assert q.enqueue([item(n, policy=p) for n, p in enumerate(policies)]).new == len(policies)
    graphic = {g.id for g in q.guidelines if g.graphic}
    claimed = []
    while (claim := q.claim_next("ana")) is not None:
        claimed.append(claim)
    assert sorted(c.item.policy or "" for c in claimed) == sorted(policies)
    with q.session() as s:
        rows = {e.item_id: e for e in s.scalars(select(ExposureEvent))}
    assert set(rows) == {c.item_id for c in claimed}
    for c in claimed:
        row = rows[c.item_id]
        policy = c.item.policy
        is_graphic = policy in graphic
        severity, _ = policy_numbers(q.guidelines, policy)
        expected = severity * q.exposure.weight("seen", graphic=is_graphic)
        assert (row.reviewer, row.kind, row.queue, row.policy) == ("ana", "seen", c.queue, policy)
        assert (row.graphic, row.points) == (is_graphic, expected)
        assert row.at == c.claimed_at


def test_a_triage_item_without_policy_counts_triage_severity(
    review_queue: ReviewQueue,
) -> None:
    q = review_queue
    raw = item(1)
    del raw["policy"]
    assert q.enqueue([raw]).new == 1
    claim = q.claim_next("ana")
    assert claim is not None
    with q.session() as s:
        [row] = s.scalars(
            select(ExposureEvent).where(col(ExposureEvent.item_id) == claim.item_id)
        ).all()
    severity, _ = policy_numbers(q.guidelines, claim.item.policy)
    assert row.policy == claim.item.policy and not row.graphic
    assert row.points == severity * q.exposure.seen


def test_a_claim_runs_two_statements_on_postgresql_four_on_sqlite(
    review_queue: ReviewQueue,
) -> None:
    q = review_queue
    assert q.enqueue([item(n) for n in range(3)]).new == 3
    assert q.claim_next("ana") is not None  # statements built, chain set up
    seen: list[str] = []

    texts: list[str] = []

    def count(conn: Any, cursor: Any, sql: str, *_: Any) -> None:
        seen.append(sql.split()[0].upper())
        texts.append(sql)

    event.listen(q.engine, "before_cursor_execute", count)
    try:
        assert q.claim_next("ana") is not None
    finally:
        event.remove(q.engine, "before_cursor_execute", count)
    # The reviewer lookup with the audit chain's set-up, the claim (with the exposure
    # hold, and on PostgreSQL the exposure row and the audit event), then on SQLite the
    # audit event; SQLite also writes the exposure row apart and opens with BEGIN
    # IMMEDIATE.
    if q.engine.dialect.name == "postgresql":
        assert seen == ["SELECT", "WITH"], seen
        # The lookup takes the chain's lock without reading its head: the claim
        # statement reads it under that lock.
        assert "FROM audit_event" not in texts[0], texts[0]
        assert "FROM audit_event" in texts[1]
    else:
        assert seen == ["BEGIN", "SELECT", "UPDATE", "INSERT", "INSERT"], seen


@pytest.fixture
def pg_queue(request: pytest.FixtureRequest, clock: Clock) -> Iterator[ReviewQueue]:
    """A queue on a fresh PostgreSQL database (a lost server connection has no SQLite
    counterpart: SQLite runs in-process)."""
    url, name = fresh_pg_database(request.getfixturevalue("pg_template"))
    q = ReviewQueue(url, clock=clock)
    yield q
    q.close()
    release_pg_database(name)


def _kill_pooled_connections(q: ReviewQueue) -> int:
    """Terminate the server side of `q`'s pooled connections; how many."""
    with q.engine.connect() as conn:
        mine = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
    admin = core_db.make_engine(q.database_url, poolclass=None)
    try:
        with admin.connect() as conn:
            killed = conn.execute(
                text("SELECT count(pg_terminate_backend(:pid))"), {"pid": mine}
            ).scalar_one()
            conn.commit()
    finally:
        admin.dispose()
    return int(killed)


def test_a_connection_lost_between_transactions_is_replaced(pg_queue: ReviewQueue) -> None:
    q = pg_queue
    assert q.enqueue([item(n) for n in range(3)]).new == 3
    assert _kill_pooled_connections(q) == 1
    claim = q.claim_next("ana")  # fails on the dead connection, runs again on a new one
    assert claim is not None
    q.decide(claim, "no-violation")


def test_a_connection_lost_while_idle_is_pinged_and_replaced(
    pg_queue: ReviewQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    q = pg_queue
    assert q.enqueue([item(n) for n in range(3)]).new == 3
    monkeypatch.setattr(core_db, "PING_AFTER_IDLE_SECONDS", -1.0)  # always "idle"
    assert _kill_pooled_connections(q) == 1
    pings: list[int] = []
    event.listen(q.engine, "checkout", lambda *_: pings.append(1))
    assert q.claim_next("ana") is not None
    assert pings  # checked out (pinged: dead, so replaced) without an error
