"""The hash chain: every append links to the one before; any tampering is named."""

from __future__ import annotations

import hashlib
import threading

import pytest
from sqlalchemy import Connection, text
from sqlmodel import Session

from modqueue.queue import ChainReport, ReviewQueue, make_engine, verify_chain
from modqueue.queue._access.rules import Permission, authorize
from modqueue.queue._audit import chain as _audit
from modqueue.queue._audit.chain import GENESIS_HASH, canonical_event, record_event
from modqueue.queue._core.types import utcnow
from tests.conftest import make_item
from tests.support.audit import tamper

EVENTS = 6  # the chain the tamper tests start from


def _build_chain(q: ReviewQueue) -> None:
    q.enqueue([make_item(n) for n in range(1, 3)])  # 2 events
    for _ in range(2):  # 2 x (claimed, decided)
        claim = q.claim_next("alice")
        assert claim is not None
        q.decide(claim, "no-violation")


def _verify(q: ReviewQueue, anchors: tuple[tuple[int, str], ...] = ()) -> ChainReport:
    return q.run(lambda s: verify_chain(s, anchors=anchors))


def _edit(conn: Connection) -> None:
    conn.execute(text("UPDATE audit_event SET actor = 'mallory' WHERE id = 3"))


def _delete(conn: Connection) -> None:
    conn.execute(text("DELETE FROM audit_event WHERE id = 3"))


def _reorder(conn: Connection) -> None:
    # Swap the contents (hashes included) of events 3 and 4, keeping their ids.
    cols = "at, actor, event, item_id, before, after, detail, prev_hash, hash"
    conn.execute(text(f"CREATE TEMPORARY TABLE swap AS SELECT id, {cols} FROM audit_event"))
    for target, source in ((3, 4), (4, 3)):
        sets = ", ".join(
            f"{c} = (SELECT {c} FROM swap WHERE id = {source})" for c in cols.split(", ")
        )
        conn.execute(text(f"UPDATE audit_event SET {sets} WHERE id = {target}"))
    conn.execute(text("DROP TABLE swap"))


def _insert(conn: Connection) -> None:
    # Make room after event 2, then insert a forged event whose own hash is right.
    for old in range(EVENTS, 2, -1):
        conn.execute(text(f"UPDATE audit_event SET id = {old + 1} WHERE id = {old}"))
    chain, prev = conn.execute(text("SELECT chain, hash FROM audit_event WHERE id = 2")).one()
    at = utcnow()
    digest = hashlib.sha256(
        canonical_event(
            id=3,
            chain=chain,
            at=at,
            actor="mallory",
            event="decided",
            item_id=1,
            before=None,
            after=None,
            detail=None,
            prev_hash=prev,
        )
    ).hexdigest()
    conn.execute(
        text(
            "INSERT INTO audit_event (id, chain, at, actor, event, item_id, prev_hash, hash) "
            "VALUES (3, :chain, :at, 'mallory', 'decided', 1, :prev, :hash)"
        ),
        {"chain": chain, "at": at.replace(tzinfo=None), "prev": prev, "hash": digest},
    )


TAMPERING = {
    "edit": (_edit, 3, "edited"),
    "delete": (_delete, 4, "deleted, inserted or moved"),
    "reorder": (_reorder, 3, "deleted, inserted or moved"),
    "insert": (_insert, 4, "deleted, inserted or moved"),
}


@pytest.mark.parametrize("kind", sorted(TAMPERING))
def test_tampering_is_detected_at_the_first_broken_link(
    review_queue: ReviewQueue, database_url: str, kind: str
) -> None:
    _build_chain(review_queue)
    report = _verify(review_queue)
    assert report.ok and report.checked == EVENTS
    work, broken_id, words = TAMPERING[kind]
    tamper(database_url, work)
    report = _verify(review_queue)
    assert not report.ok
    assert report.broken_id == broken_id
    assert report.problem is not None and words in report.problem


def test_truncated_tail_is_caught_by_an_anchor(
    review_queue: ReviewQueue, database_url: str
) -> None:
    _build_chain(review_queue)
    head = _verify(review_queue)
    tamper(database_url, lambda c: c.execute(text(f"DELETE FROM audit_event WHERE id = {EVENTS}")))
    assert _verify(review_queue).ok
    report = _verify(review_queue, head.heads)
    assert not report.ok
    assert report.problem is not None and "truncated" in report.problem


def test_chain_links_and_ids_follow_append_order(review_queue: ReviewQueue) -> None:
    _build_chain(review_queue)
    with review_queue.session() as s:
        rows = s.execute(
            text("SELECT id, chain, prev_hash, hash FROM audit_event ORDER BY id")
        ).all()
    # One writer at a time: every event lands in the same chain, in id order.
    assert len({r.chain for r in rows}) == 1
    assert rows[0].prev_hash == GENESIS_HASH
    assert all(rows[i].prev_hash == rows[i - 1].hash for i in range(1, len(rows)))


def test_concurrent_transactions_append_to_separate_chains(
    review_queue: ReviewQueue, database_url: str
) -> None:
    """While one transaction holds a chain (uncommitted), another appends beside it on
    PostgreSQL instead of waiting; SQLite has one writer at a time and one chain."""
    q = review_queue
    q.enqueue([make_item(1)])
    engine = make_engine(database_url)
    try:
        with Session(engine) as first:
            first.begin()
            record_event(first, actor="first", event="note", at=utcnow())
            if engine.dialect.name == "postgresql":
                with Session(engine) as second, second.begin():
                    record_event(second, actor="second", event="note", at=utcnow())
                    record_event(second, actor="second", event="note", at=utcnow())
            first.commit()
    finally:
        engine.dispose()
    with q.session() as s:
        rows = s.execute(text("SELECT actor, chain FROM audit_event ORDER BY id")).all()
    chains = {actor: {r.chain for r in rows if r.actor == actor} for actor in ("first", "second")}
    if database_url.startswith("postgresql"):
        # Each transaction keeps one chain for all its events, and the two differ.
        assert len(chains["first"]) == len(chains["second"]) == 1
        assert chains["first"] != chains["second"]
    else:
        assert chains == {"first": {0}, "second": set()}
    report = _verify(q)
    assert report.ok and report.checked == len(rows)
    assert len(report.heads) == len({r.chain for r in rows})
    # The heads are the anchors: all of them must be present and unchanged.
    assert _verify(q, report.heads).ok


def test_concurrent_writers_keep_every_chain_unbroken(review_queue: ReviewQueue) -> None:
    q = review_queue
    q.enqueue([make_item(n) for n in range(40)])
    errors: list[BaseException] = []

    def work(name: str) -> None:
        try:
            with ReviewQueue(q.database_url, auto_migrate=False, clock=q.clock) as own:
                while (claim := own.claim_next(name)) is not None:
                    own.decide(claim, "no-violation")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(f"r{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    report = _verify(q)
    with q.session() as s:
        stored = s.execute(text("SELECT count(*) FROM audit_event")).scalar_one()
    # ingested, claimed, decided for each item, plus the second reviews [quality] draws
    assert stored >= 40 * 3
    assert report.ok and report.checked == stored


def test_a_stale_head_from_the_first_statement_is_caught_before_it_forks(
    review_queue: ReviewQueue,
) -> None:
    """The transaction's first statement reads the chain head with its lookup; on
    PostgreSQL a commit can slip in before the chain's lock is granted. The first append
    then must notice and link to the real head, not fork the chain."""
    q = review_queue
    _build_chain(q)
    with q.session() as s:
        conn = s.connection()
        chain = conn.execute(text("SELECT chain FROM audit_event ORDER BY id DESC")).first()
        assert chain is not None
        real = conn.execute(
            text("SELECT id, hash FROM audit_event WHERE chain = :c ORDER BY id DESC"),
            {"c": chain[0]},
        ).all()
        # What a prologue would have kept had it read the head one event too early.
        state = _audit._ChainState(
            transaction=conn.get_transaction(),
            chain=chain[0],
            head=(real[1][0], real[1][1]),
            checked=False,
            spare_ids=[real[0][0] + 1000],
        )
        conn.info[_audit._CHAIN_KEY] = state
        record_event(s, actor="late", event="note", at=utcnow())
    with q.session() as s:
        late = s.execute(
            text("SELECT prev_hash, chain FROM audit_event WHERE actor = 'late'")
        ).all()
    assert late == [(real[0][1], chain[0])]
    assert _verify(q).ok


def test_events_rolled_back_with_a_savepoint_leave_no_gap_in_the_chain(
    review_queue: ReviewQueue,
) -> None:
    q = review_queue
    _build_chain(q)
    with q.session() as s:
        # The lookup sets up the chain's head for the transaction, as in every service call.
        authorize(s, reviewer="alice", permission=Permission.CLAIM, now=utcnow())
        record_event(s, actor="kept", event="note", at=utcnow())
        nested = s.begin_nested()
        record_event(s, actor="undone", event="note", at=utcnow())
        nested.rollback()
        record_event(s, actor="kept", event="note", at=utcnow())
    with q.session() as s:
        actors = s.execute(text("SELECT actor FROM audit_event ORDER BY id")).scalars().all()
    assert actors[-2:] == ["kept", "kept"] and "undone" not in actors
    assert _verify(q).ok
