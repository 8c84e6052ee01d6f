"""Migration 0016_privacy_retention moves personal data out of events written before it,
without changing any event's hash: old anchors still hold, and erasing the moved data
keeps the chain verifying."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import Connection, Engine, insert, select, text
from sqlmodel import Session, col

from modqueue.queue import (
    AuditEvent,
    AuditSeal,
    make_engine,
    personal_of,
    verify_chain,
)
from modqueue.queue._audit.chain import AUDIT, GENESIS_HASH, AuditRecord, _rows, event_hash
from modqueue.queue._core.db import alembic_config
from tests.privacy.scan import occurrences
from tests.support.audit import drop_audit_guards

URL = "https://example.org/p/legacy-url-4471"
NOTE = "@legacy_handle_4471 says it is news"
AT = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
# (chain, record): two chains, as PostgreSQL writes them; events 2 and 3 are personal.
LEGACY = [
    (0, AuditRecord("ingest", "ingested", AT, 1, None, {"source": "s", "external_id": "e1"})),
    (0, AuditRecord("ingest", "merged", AT, 1, {"report_count": 1}, {"url": URL})),
    (2, AuditRecord("bob", "appealed", AT, 1, None, None, {"note": NOTE, "appeal_id": 1})),
    (0, AuditRecord("sue", "decided", AT, 1, None, {"label": "no-violation"})),
]


@pytest.fixture
def legacy(database_url: str) -> Iterator[tuple[Engine, dict[int, str]]]:
    """A database at the revision before, with events written by the rules before it;
    yields the engine and every event's hash (the anchors written down before)."""
    engine = make_engine(database_url)
    command.downgrade(alembic_config(engine), "0015_reports_referrals")
    heads: dict[int, str] = {}
    hashes: dict[int, str] = {}
    with engine.begin() as conn:
        for new_id, (chain, record) in enumerate(LEGACY, start=1):
            (row,) = _rows([record], chain, heads.get(chain, GENESIS_HASH), [new_id])
            conn.execute(insert(AUDIT), [row])
            heads[chain] = hashes[new_id] = row["hash"]
    command.upgrade(alembic_config(engine), "heads")
    yield engine, hashes
    engine.dispose()


def _verify(engine: Engine, anchors: dict[int, str] | None = None) -> tuple[bool, int | None]:
    with Session(engine) as s:
        report = verify_chain(s, anchors=list((anchors or {}).items()))
    return report.ok, report.broken_id


def test_legacy_personal_fields_move_out_and_hashes_stay(
    legacy: tuple[Engine, dict[int, str]], database_url: str
) -> None:
    engine, hashes = legacy
    assert _verify(engine, hashes) == (True, None)
    with Session(engine) as s:
        events = {e.id: e for e in s.scalars(select(AuditEvent).order_by(col(AuditEvent.id)))}
        assert {i: events[i].hash for i in hashes} == hashes  # no hash changed
        assert sorted(s.scalars(select(col(AuditSeal.event_id)))) == [2, 3]
        sealed = events[5]
        assert sealed.event == "audit_sealed" and sealed.prev_hash == hashes[4]
        assert personal_of(s, [2, 3]) == {2: {"after.url": URL}, 3: {"detail.note": NOTE}}
    hits = occurrences(database_url, [URL, NOTE])
    assert hits == [f"audit_personal.data: {v}" for v in sorted([NOTE, URL])]
    # Erasing the moved fields leaves the chain verifying.
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_personal"))
    assert occurrences(database_url, [URL, NOTE]) == []
    assert _verify(engine, hashes) == (True, None)


def _edit_sealed(conn: Connection) -> None:
    conn.execute(text("""UPDATE audit_event SET actor = 'mallory' WHERE id = 2"""))


def _edit_sealed_and_its_seal(conn: Connection) -> None:
    _edit_sealed(conn)
    with Session(bind=conn) as s:
        row = s.get_one(AuditEvent, 2)
        forged = event_hash(row, row.prev_hash or GENESIS_HASH)
    conn.execute(text("UPDATE audit_seal SET sealed_hash = :h WHERE event_id = 2"), {"h": forged})


def _drop_anchor(conn: Connection) -> None:
    conn.execute(text("DELETE FROM audit_event WHERE id = 5"))


@pytest.mark.parametrize(
    ("tamper", "broken"),
    [(_edit_sealed, 2), (_edit_sealed_and_its_seal, 2), (_drop_anchor, 2)],
    ids=["event", "event-and-seal", "anchor"],
)
def test_tampering_with_sealed_events_is_detected(
    legacy: tuple[Engine, dict[int, str]], tamper: Callable[[Connection], None], broken: int
) -> None:
    engine, _ = legacy
    with engine.begin() as conn:
        drop_audit_guards(conn)
        tamper(conn)
    assert _verify(engine) == (False, broken)


def test_downgrade_puts_the_fields_back(legacy: tuple[Engine, dict[int, str]]) -> None:
    engine, hashes = legacy
    command.downgrade(alembic_config(engine), "0015_reports_referrals")
    with Session(engine) as s:
        rows = list(s.scalars(select(AuditEvent).order_by(col(AuditEvent.id))))
    assert rows[1].after == {"url": URL} and rows[2].detail == {"note": NOTE, "appeal_id": 1}
    assert all(event_hash(r, r.prev_hash or GENESIS_HASH) == r.hash for r in rows)
    assert {r.id: r.hash for r in rows if r.id in hashes} == hashes
    command.upgrade(alembic_config(engine), "heads")
    assert _verify(engine, hashes) == (True, None)
