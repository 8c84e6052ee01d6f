"""The hash chain: every append links to the one before; any tampering is named."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable

import pytest
from sqlalchemy import Connection, text

from modqueue.queue import ChainReport, ReviewQueue, make_engine, verify_chain
from modqueue.queue._audit import GENESIS_HASH, canonical_event
from modqueue.queue._types import utcnow
from tests.conftest import make_item

EVENTS = 6  # the chain the tamper tests start from


def _build_chain(q: ReviewQueue) -> None:
    q.enqueue([make_item(n) for n in range(1, 3)])  # 2 events
    for _ in range(2):  # 2 x (claimed, decided)
        claim = q.claim_next("alice")
        assert claim is not None
        q.decide(claim, "no-violation")


def _verify(
    q: ReviewQueue, anchor_id: int | None = None, anchor_hash: str | None = None
) -> ChainReport:
    return q.run(lambda s: verify_chain(s, anchor_id=anchor_id, anchor_hash=anchor_hash))


def _tamper(url: str, work: Callable[[Connection], object]) -> None:
    """Rewrite rows as an attacker with the owner's rights (SQLite: dropping the triggers)."""
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "sqlite":
                conn.execute(text("DROP TRIGGER audit_event_no_update"))
                conn.execute(text("DROP TRIGGER audit_event_no_delete"))
            work(conn)
    finally:
        engine.dispose()


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
    prev = conn.execute(text("SELECT hash FROM audit_event WHERE id = 2")).scalar_one()
    at = utcnow()
    digest = hashlib.sha256(
        canonical_event(
            id=3,
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
            "INSERT INTO audit_event (id, at, actor, event, item_id, prev_hash, hash) "
            "VALUES (3, :at, 'mallory', 'decided', 1, :prev, :hash)"
        ),
        {"at": at.replace(tzinfo=None), "prev": prev, "hash": digest},
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
    _tamper(database_url, work)
    report = _verify(review_queue)
    assert not report.ok
    assert report.broken_id == broken_id
    assert report.problem is not None and words in report.problem


def test_truncated_tail_is_caught_by_an_anchor(
    review_queue: ReviewQueue, database_url: str
) -> None:
    _build_chain(review_queue)
    head = _verify(review_queue)
    _tamper(database_url, lambda c: c.execute(text(f"DELETE FROM audit_event WHERE id = {EVENTS}")))
    assert _verify(review_queue).ok
    report = _verify(
        review_queue,
        anchor_id=head.head_id,
        anchor_hash=head.head_hash,
    )
    assert not report.ok
    assert report.problem is not None and "truncated" in report.problem


def test_chain_links_and_ids_follow_append_order(review_queue: ReviewQueue) -> None:
    _build_chain(review_queue)
    with review_queue.session() as s:
        rows = s.execute(text("SELECT id, prev_hash, hash FROM audit_event ORDER BY id")).all()
    assert rows[0][1] == GENESIS_HASH
    assert all(rows[i][1] == rows[i - 1][2] for i in range(1, len(rows)))


def test_concurrent_writers_keep_one_unbroken_chain(review_queue: ReviewQueue) -> None:
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
    assert report.ok and report.checked == 40 * 3  # ingested, claimed, decided
