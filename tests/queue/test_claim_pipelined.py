"""The pipelined claim (issue 17, `_claims.pipelined`): on PostgreSQL a claim goes in one
pipeline and a commit, with every guarantee of the usual path (one chained audit event
in the same transaction, the exposure row, authorization decided on the reviewer as the
transaction reads them); whatever it cannot do falls back to the usual path with nothing
written. SQLite keeps the usual path."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlmodel import col

from modqueue._exceptions import PermissionDenied
from modqueue.queue import (
    AuditEvent,
    ExposureEvent,
    Item,
    ReviewQueue,
    add_reviewer,
    disable_reviewer,
    grant_reviewer,
)
from modqueue.queue._audit.chain import (
    GENESIS_HASH,
    PG_AUDIT_CHAIN_LOCK,
    PG_AUDIT_CHAINS,
    event_hash,
)
from modqueue.queue._claims import pipelined
from modqueue.queue._core import db as core_db
from modqueue.queue._core.types import ItemStatus
from tests.conftest import Clock, make_item
from tests.support.claims import check_trail, claimed_events, pg_review_queue

WORDS = ["alder", "basalt", "cinder", "dune", "egret", "fennel", "gorse", "holly"]
WORDS += ["iris", "juniper", "kelp", "loam", "moss", "nettle", "osier", "peat"]


def item(n: int, **overrides: Any) -> dict[str, Any]:
    """Item n, with a text of its own (texts differing only in digits would fold)."""
    words = " ".join(WORDS[(n // len(WORDS) ** k) % len(WORDS)] for k in range(3))
    return make_item(n, text=f"{words} notice posted by {WORDS[n % len(WORDS)]}", **overrides)


class Spy:
    """Counts the pipelined claims `ReviewQueue.claim_next` tries, and how many fell back."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.tried = 0
        self.fell_back: list[str] = []
        real = pipelined.claim_pipelined

        def spy(*args: Any, **kwargs: Any) -> Any:
            self.tried += 1
            try:
                return real(*args, **kwargs)
            except pipelined.Unpipelined as exc:
                self.fell_back.append(str(exc))
                raise

        monkeypatch.setattr("modqueue.queue._review_queue.claim_pipelined", spy)

    @property
    def pipelined(self) -> int:
        return self.tried - len(self.fell_back)


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> Spy:
    return Spy(monkeypatch)


def _is_pg(q: ReviewQueue) -> bool:
    return q.engine.dialect.name == "postgresql"


def _counts(q: ReviewQueue) -> tuple[int, int, int]:
    """(audit events, exposure rows, claimed items)."""
    with q.session() as s:
        return (
            s.scalar(select(func.count()).select_from(AuditEvent)) or 0,
            s.scalar(select(func.count()).select_from(ExposureEvent)) or 0,
            s.scalar(select(func.count()).where(col(Item.status) == ItemStatus.CLAIMED.value)) or 0,
        )


def _add(q: ReviewQueue, name: str, role: str, policies: list[str]) -> None:
    actor = "root" if name != "root" else None
    q.run(
        lambda s: add_reviewer(
            s, actor=actor, name=name, role=role, policies=policies, now=q.clock()
        )
    )


def test_claims_are_pipelined_on_postgresql_and_each_writes_one_chained_event(
    review_queue: ReviewQueue, spy: Spy
) -> None:
    q = review_queue
    assert q.enqueue([item(n) for n in range(6)]).new == 6
    claims = [q.claim_next("ana") for _ in range(4)]
    assert all(c is not None for c in claims)
    assert spy.pipelined == (4 if _is_pg(q) else 0), spy.fell_back
    assert not spy.fell_back
    events = claimed_events(q)
    assert [(e.actor, e.item_id) for e in events] == [
        ("ana", c.item_id) for c in claims if c is not None
    ]
    for e, c in zip(events, claims, strict=True):
        assert c is not None
        assert e.before == {"status": "pending"}
        assert e.after == {"status": "claimed", "lease_expires_at": c.lease_expires_at.isoformat()}
        assert e.hash == event_hash(e, e.prev_hash or GENESIS_HASH)
        assert e.at == c.claimed_at
    with q.session() as s:
        shown = sorted(i or 0 for i in s.scalars(select(col(ExposureEvent.item_id))))
    assert shown == sorted(c.item_id for c in claims if c is not None)
    check_trail(q)
    # A pipelined claim is a claim like any other: decided, released, renewed.
    assert claims[1] is not None and claims[2] is not None and claims[3] is not None
    q.decide(claims[1], "no-violation")
    q.release(claims[2], note="later")
    q.renew(claims[3])
    check_trail(q)


@pytest.mark.parametrize("start", [0, 5])
def test_the_pipelined_event_hashes_on_chain_zero_and_on_others(
    review_queue: ReviewQueue, spy: Spy, monkeypatch: pytest.MonkeyPatch, start: int
) -> None:
    # Chain 0 hashes without a `chain` key; the statement must leave it out too.
    q = review_queue
    params = {"chain_start": start, "chain_n": PG_AUDIT_CHAINS, "chain_key": PG_AUDIT_CHAIN_LOCK}
    monkeypatch.setattr("modqueue.queue._transaction.try_chain_params", lambda: dict(params))
    assert q.enqueue([item(n) for n in range(3)]).new == 3
    for _ in range(3):
        assert q.claim_next("zoë") is not None
    assert spy.pipelined == (3 if _is_pg(q) else 0), spy.fell_back
    if _is_pg(q):
        assert {e.chain for e in claimed_events(q)} == {start}
    check_trail(q)


def test_a_service_identity_is_named_in_a_pipelined_claims_event(
    review_queue: ReviewQueue, spy: Spy
) -> None:
    q = review_queue
    assert q.enqueue([item(n) for n in range(3)]).new == 3
    q.service = "desk-service"
    assert q.claim_next("ana") is not None
    assert q.claim_next("ana") is not None
    assert spy.pipelined == (2 if _is_pg(q) else 0), spy.fell_back
    assert [e.detail for e in claimed_events(q)] == [{"service": "desk-service"}] * 2
    check_trail(q)


def test_nothing_to_claim_writes_nothing(review_queue: ReviewQueue, spy: Spy) -> None:
    q = review_queue
    assert q.enqueue([item(1)]).new == 1
    assert q.claim_next("ana") is not None
    before = _counts(q)
    assert q.claim_next("ana") is None
    assert spy.pipelined == (2 if _is_pg(q) else 0), spy.fell_back
    assert _counts(q) == before
    check_trail(q)


def test_a_reviewer_disabled_after_a_claim_is_refused_the_next(
    review_queue: ReviewQueue, spy: Spy
) -> None:
    q = review_queue
    _add(q, "root", "admin", [])
    _add(q, "ana", "reviewer", ["*"])
    assert q.enqueue([item(n) for n in range(3)]).new == 3
    assert q.claim_next("ana") is not None
    q.run(lambda s: disable_reviewer(s, actor="root", name="ana", now=q.clock()))
    before = _counts(q)
    with pytest.raises(PermissionDenied):
        q.claim_next("ana")
    # On PostgreSQL the pipelined claim saw the changed record and fell back, writing
    # nothing; the usual path refused (and audited the refusal).
    if _is_pg(q):
        assert spy.tried == 2 and spy.fell_back == [
            "refused: the usual path refuses, and audits it"
        ]
    with q.session() as s:
        claimed = s.scalar(select(func.count()).where(col(Item.status) == ItemStatus.CLAIMED.value))
        denied = s.scalar(select(func.count()).where(col(AuditEvent.event) == "access_denied"))
    assert claimed == before[2] and denied == 1
    check_trail(q)


def test_a_policy_taken_away_is_no_longer_claimed_from(review_queue: ReviewQueue, spy: Spy) -> None:
    q = review_queue
    _add(q, "root", "admin", [])
    _add(q, "ana", "reviewer", ["doxxing", "hate"])
    loud = [item(n, policy="doxxing", report_count=50) for n in range(3)]
    quiet = [item(10 + n, policy="hate", report_count=1) for n in range(3)]
    assert q.enqueue(loud + quiet).new == 6
    first = q.claim_next("ana")
    assert first is not None and first.item.policy == "doxxing"
    q.run(lambda s: grant_reviewer(s, actor="root", name="ana", revoke=["doxxing"], now=q.clock()))
    second = q.claim_next("ana")
    assert second is not None and second.item.policy == "hate"
    third = q.claim_next("ana")
    assert third is not None and third.item.policy == "hate"
    if _is_pg(q):
        # The first was sent for every queue and fell back (authorization chose the
        # granted ones), the second for both granted ones and fell back (one taken
        # away); each time the claim went the usual way and the queues chosen were kept
        # for the next. The third is pipelined.
        assert spy.tried == 3 and spy.pipelined == 1, spy.fell_back
        assert spy.fell_back == ["authorization chose other queues"] * 2
    check_trail(q)


def test_a_senior_queue_is_refused_to_a_reviewer(review_queue: ReviewQueue, spy: Spy) -> None:
    q = review_queue
    _add(q, "root", "admin", [])
    _add(q, "ana", "reviewer", ["*"])
    assert q.enqueue([item(n) for n in range(2)]).new == 2
    first = q.claim_next("ana")
    assert first is not None
    q.escalate(first, "for a senior")
    before = _counts(q)
    with pytest.raises(PermissionDenied, match="senior"):
        q.claim_next("ana", [f"{first.queue}:senior"])
    with q.session() as s:
        denied = s.scalar(select(func.count()).where(col(AuditEvent.event) == "access_denied"))
    assert denied == 1
    assert _counts(q)[1:] == before[1:]  # no exposure row, no item claimed
    check_trail(q)


def test_a_failed_pipelined_claim_leaves_nothing(
    pg_queue: ReviewQueue, spy: Spy, monkeypatch: pytest.MonkeyPatch
) -> None:
    q = pg_queue
    assert q.enqueue([item(n) for n in range(3)]).new == 3
    assert q.claim_next("ana") is not None
    before = _counts(q)
    # Python and the database disagree on the event's hash: the claim must not commit.
    monkeypatch.setattr(pipelined, "expected_hash", lambda *_, **__: "0" * 64)
    with pytest.raises(AssertionError, match="the database hashed"):
        q.claim_next("ana")
    assert _counts(q) == before
    check_trail(q)


@pytest.fixture
def pg_queue(request: pytest.FixtureRequest, clock: Clock) -> Iterator[ReviewQueue]:
    """A queue on a fresh PostgreSQL database (only there are claims pipelined)."""
    with pg_review_queue(request, clock) as q:
        yield q


def test_a_pipelined_claim_falls_back_when_the_id_sequence_is_behind(
    pg_queue: ReviewQueue, spy: Spy
) -> None:
    q = pg_queue
    assert q.enqueue([item(n) for n in range(4)]).new == 4
    assert q.claim_next("ana") is not None
    with q.engine.connect() as conn:
        conn.execute(text("SELECT setval(pg_get_serial_sequence('audit_event', 'id'), 1)"))
        conn.commit()
    claim = q.claim_next("ana")
    assert claim is not None
    assert spy.tried == 2 and len(spy.fell_back) == 1, spy.fell_back
    events = claimed_events(q)
    assert [(e.actor, e.item_id) for e in events][-1] == ("ana", claim.item_id)
    assert len(events) == 2
    check_trail(q)
    assert q.claim_next("ana") is not None  # pipelined again
    assert spy.pipelined == 2
    check_trail(q)


def test_a_connection_lost_before_a_pipelined_claim_is_replaced(
    pg_queue: ReviewQueue, spy: Spy
) -> None:
    q = pg_queue
    assert q.enqueue([item(n) for n in range(3)]).new == 3
    assert q.claim_next("ana") is not None
    with q.engine.connect() as conn:
        mine = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
    admin = core_db.make_engine(q.database_url, poolclass=None)
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": mine})
            conn.commit()
    finally:
        admin.dispose()
    claim = q.claim_next("ana")  # the pipeline fails; the usual path claims on a new one
    assert claim is not None
    assert spy.tried == 2 and len(spy.fell_back) == 1
    q.decide(claim, "no-violation")
    check_trail(q)


def test_the_claims_transaction_settings_do_not_outlive_it(pg_queue: ReviewQueue, spy: Spy) -> None:
    # The pipelined claim commits without waiting for the WAL flush and uses the generic
    # plan; both are set for its own transaction only: the next transaction on the same
    # pooled connection runs with the session's settings again.
    q = pg_queue
    assert q.enqueue([item(n) for n in range(2)]).new == 2
    sql = "SELECT current_setting('synchronous_commit'), current_setting('plan_cache_mode')"
    # Every connection the pool keeps (5) gets the session setting `on` (the test
    # cluster runs without synchronous commits), so the claim runs on one of them.
    pooled = [q.engine.connect() for _ in range(5)]
    for conn in pooled:
        conn.exec_driver_sql("SET synchronous_commit = on")
        conn.commit()
    for conn in pooled:
        conn.close()
    claim = q.claim_next("ana")
    assert claim is not None and spy.pipelined == 1
    pooled = [q.engine.connect() for _ in range(5)]
    try:
        assert {tuple(c.exec_driver_sql(sql).one()) for c in pooled} == {("on", "auto")}
    finally:
        for conn in pooled:
            conn.close()
    q.decide(claim, "no-violation")
    check_trail(q)


def _kept_cursors(q: ReviewQueue) -> Any:
    """The claim cursors kept on the pool's connection (one: this test claims alone)."""
    with q.engine.connect() as conn:
        return conn.connection.info.get(pipelined._CURSORS)


def test_a_connections_claim_cursors_are_kept_through_a_rolled_back_claim(
    pg_queue: ReviewQueue, spy: Spy, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The pipelined claim keeps its three cursors on the pooled connection (psycopg then
    # keeps their adaptation); a claim rolled back on that connection leaves them usable.
    q = pg_queue
    assert q.enqueue([item(n) for n in range(4)]).new == 4
    first = q.claim_next("ana")
    kept = _kept_cursors(q)
    assert first is not None and kept is not None and len(kept) == 3
    with monkeypatch.context() as patched:
        patched.setattr(pipelined, "expected_hash", lambda *_, **__: "0" * 64)
        with pytest.raises(AssertionError, match="the database hashed"):
            q.claim_next("bea")
    second = q.claim_next("bea")
    assert second is not None and second.item_id != first.item_id
    assert _kept_cursors(q) is kept and not any(cursor.closed for cursor in kept)
    assert spy.tried == 3 and spy.fell_back == []
    q.decide(second, "no-violation")
    check_trail(q)
