"""The append-only audit trail: every state change goes through `record_events`.

Each event carries `prev_hash`, the hash of the event before it, and `hash`, the SHA-256
of a canonical JSON of its own fields and `prev_hash` (`event_hash`). Appends are
serialised so the chain has no forks and ids follow chain order: on PostgreSQL by a
transaction-scoped advisory lock taken right before the rows are inserted (held until
commit), on SQLite by the `BEGIN IMMEDIATE` every transaction starts with.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, insert, select, text
from sqlmodel import Session

from modqueue.queue._models import AuditEvent

__all__ = [
    "GENESIS_HASH",
    "PG_AUDIT_CHAIN_LOCK",
    "AuditRecord",
    "canonical_event",
    "event_hash",
    "record_event",
    "record_events",
]

GENESIS_HASH = "0" * 64  # `prev_hash` of the first event
PG_AUDIT_CHAIN_LOCK = 7_244_310_008  # pg_advisory_xact_lock key serialising appends

AUDIT: Table = AuditEvent.metadata.tables["audit_event"]
_INSERT_AUDIT = insert(AUDIT)
_HEAD = select(AUDIT.c.id, AUDIT.c.hash).order_by(AUDIT.c.id.desc()).limit(1)
_LOCK = text("SELECT pg_advisory_xact_lock(:k)")
_NEXTVAL = text(
    "SELECT nextval(pg_get_serial_sequence('audit_event', 'id')) FROM generate_series(1, :n)"
)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One event to append: who did what to which item, with the state before and after."""

    actor: str
    event: str
    at: datetime
    item_id: int | None = None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    detail: dict[str, Any] | None = field(default=None)


def _iso(at: datetime) -> str:
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def _json_value(value: dict[str, Any] | None) -> Any:
    # What the JSON column gives back: keys become strings, tuples lists.
    return None if value is None else json.loads(json.dumps(value))


def canonical_event(
    *,
    id: int,
    at: datetime,
    actor: str,
    event: str,
    item_id: int | None,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    detail: dict[str, Any] | None,
    prev_hash: str,
) -> bytes:
    """The bytes an event's hash is computed over: sorted-key, compact, UTF-8 JSON."""
    doc = {
        "id": id,
        "at": _iso(at),
        "actor": actor,
        "event": event,
        "item_id": item_id,
        "before": _json_value(before),
        "after": _json_value(after),
        "detail": _json_value(detail),
        "prev_hash": prev_hash,
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def event_hash(row: AuditEvent, prev_hash: str) -> str:
    """The SHA-256 (hex) that `row` must carry when it follows an event hashed `prev_hash`."""
    assert row.id is not None
    return hashlib.sha256(
        canonical_event(
            id=row.id,
            at=row.at,
            actor=row.actor,
            event=row.event,
            item_id=row.item_id,
            before=row.before,
            after=row.after,
            detail=row.detail,
            prev_hash=prev_hash,
        )
    ).hexdigest()


def _chain_head(session: Session) -> tuple[int, str]:
    """`(id, hash)` of the last event, after taking the append lock."""
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        conn.execute(_LOCK, {"k": PG_AUDIT_CHAIN_LOCK})
    last = conn.execute(_HEAD).one_or_none()
    if last is None:
        return 0, GENESIS_HASH
    return int(last[0]), last[1] or GENESIS_HASH


def _next_ids(session: Session, last_id: int, count: int) -> list[int]:
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        # Under the lock, sequence values come out in chain order; rolled-back
        # transactions leave gaps, which the chain does not care about.
        rows = conn.execute(_NEXTVAL, {"n": count}).scalars()
        ids = sorted(int(v) for v in rows)
        if ids[0] > last_id:
            return ids
        # The sequence was reset behind the chain's back: move it past the chain.
        conn.execute(
            text("SELECT setval(pg_get_serial_sequence('audit_event', 'id'), :v)"),
            {"v": last_id + count},
        )
    return list(range(last_id + 1, last_id + 1 + count))


def record_events(session: Session, records: Sequence[AuditRecord]) -> None:
    """Append `records` to the audit trail (hash-chained) inside the caller's transaction."""
    if not records:
        return
    last_id, prev = _chain_head(session)
    rows = []
    for new_id, r in zip(_next_ids(session, last_id, len(records)), records, strict=True):
        at = r.at if r.at.tzinfo is not None else r.at.replace(tzinfo=UTC)
        digest = hashlib.sha256(
            canonical_event(
                id=new_id,
                at=at,
                actor=r.actor,
                event=r.event,
                item_id=r.item_id,
                before=r.before,
                after=r.after,
                detail=r.detail,
                prev_hash=prev,
            )
        ).hexdigest()
        rows.append(
            {
                "id": new_id,
                "at": at,
                "actor": r.actor,
                "event": r.event,
                "item_id": r.item_id,
                "before": r.before,
                "after": r.after,
                "detail": r.detail,
                "prev_hash": prev,
                "hash": digest,
            }
        )
        prev = digest
    session.connection().execute(_INSERT_AUDIT, rows)


def record_event(
    session: Session,
    *,
    actor: str,
    event: str,
    at: datetime,
    item_id: int | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one event to the audit trail inside the caller's transaction."""
    record_events(
        session,
        [AuditRecord(actor, event, at, item_id, before, after, detail)],
    )
