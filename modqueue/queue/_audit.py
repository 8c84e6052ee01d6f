"""The append-only audit trail: every state change goes through `record_events`.

Each event carries `prev_hash`, the hash of the event before it in its chain, and `hash`,
the SHA-256 of a canonical JSON of its own fields and `prev_hash` (`event_hash`).

The trail is a few interleaved chains (`chain` 0 to `PG_AUDIT_CHAINS - 1`), each of
which has no forks and whose ids follow its append order. Appends to one chain are
serialised: on PostgreSQL by a transaction-scoped advisory lock per chain, taken right
before the rows are inserted and held until commit; on SQLite, where every transaction
starts with `BEGIN IMMEDIATE` and writers are serialised anyway, everything goes to
chain 0. On PostgreSQL a writer takes the first chain whose lock is free, so concurrent
transactions append side by side and their commits share a WAL flush instead of queueing
behind one lock; a transaction keeps the chain it took for all its events.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Table, bindparam, func, insert, select, text
from sqlmodel import Session

from modqueue.queue._models import AuditEvent

__all__ = [
    "GENESIS_HASH",
    "PG_AUDIT_CHAINS",
    "PG_AUDIT_CHAIN_LOCK",
    "TRY_CHAIN_SQL",
    "AuditRecord",
    "canonical_event",
    "event_hash",
    "note_chain_taken",
    "record_event",
    "record_events",
    "try_chain_params",
]

GENESIS_HASH = "0" * 64  # `prev_hash` of the first event
PG_AUDIT_CHAIN_LOCK = 7_244_310_008  # advisory lock key of chain 0; chain k uses key + k
PG_AUDIT_CHAINS = 16  # chains on PostgreSQL: how many transactions can append at once

AUDIT: Table = AuditEvent.metadata.tables["audit_event"]
_INSERT_AUDIT = insert(AUDIT)
_HEAD = (
    select(AUDIT.c.id, AUDIT.c.hash)
    .where(AUDIT.c.chain == bindparam("chain"))
    .order_by(AUDIT.c.id.desc())
    .limit(1)
)
# The first chain, from :start on, whose lock is free (LIMIT 1 stops at the first taken).
TRY_CHAIN_SQL = (
    "SELECT (k + :chain_start) % :chain_n FROM generate_series(0, :chain_n - 1) AS k "
    "WHERE pg_try_advisory_xact_lock(:chain_key + (k + :chain_start) % :chain_n) LIMIT 1"
)
_TRY_CHAIN = text(TRY_CHAIN_SQL)
_LOCK = text("SELECT pg_advisory_xact_lock(:k)")
_MAX_ID = select(func.coalesce(func.max(AUDIT.c.id), 0))
_SETVAL = text("SELECT setval(pg_get_serial_sequence('audit_event', 'id'), :v)")
_CHAIN_KEY = "modqueue_audit_chain"  # Connection.info: (transaction, chain) taken
_PG_HEAD_AND_IDS = text(
    "SELECT h.id, h.hash, ARRAY(SELECT nextval(pg_get_serial_sequence('audit_event', 'id')) "
    "FROM generate_series(1, :n)) FROM (SELECT 1) AS one LEFT JOIN LATERAL (SELECT id, hash "
    "FROM audit_event WHERE chain = :chain ORDER BY id DESC LIMIT 1) AS h ON true"
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
    chain: int = 0,
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
    if chain:  # chain 0 hashes as before chains existed, so older trails still verify
        doc["chain"] = chain
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def event_hash(row: AuditEvent, prev_hash: str) -> str:
    """The SHA-256 (hex) that `row` must carry when it follows an event hashed `prev_hash`."""
    assert row.id is not None
    return hashlib.sha256(
        canonical_event(
            id=row.id,
            chain=row.chain,
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


def try_chain_params() -> dict[str, int]:
    """Parameters for `TRY_CHAIN_SQL`: each process starts its search at its own chain."""
    return {
        "chain_start": os.getpid() % PG_AUDIT_CHAINS,
        "chain_n": PG_AUDIT_CHAINS,
        "chain_key": PG_AUDIT_CHAIN_LOCK,
    }


def note_chain_taken(conn: Connection, chain: int) -> None:
    """Remember that this transaction holds `chain`'s lock (taken by `TRY_CHAIN_SQL` run
    inside another statement, e.g. authorization's lookup, to save a round trip)."""
    conn.info[_CHAIN_KEY] = (conn.get_transaction(), chain)


def _take_chain(conn: Connection) -> int:
    """The chain this transaction appends to, locking it on PostgreSQL."""
    if conn.dialect.name != "postgresql":
        return 0
    taken = conn.info.get(_CHAIN_KEY)
    if taken is not None and taken[0] is conn.get_transaction():
        return int(taken[1])
    params = try_chain_params()
    chain = conn.execute(_TRY_CHAIN, params).scalar()
    if chain is None:  # every chain busy: wait for this process's own
        chain = params["chain_start"]
        conn.execute(_LOCK, {"k": PG_AUDIT_CHAIN_LOCK + chain})
    note_chain_taken(conn, chain)
    return int(chain)


def _append_point(session: Session, count: int) -> tuple[int, str, list[int]]:
    """`(chain, prev_hash, ids)` for appending `count` events, once the chain is locked."""
    conn = session.connection()
    chain = _take_chain(conn)
    if conn.dialect.name != "postgresql":
        last = conn.execute(_HEAD, {"chain": chain}).one_or_none()
        last_id, prev = (int(last[0]), last[1]) if last is not None else (0, None)
        return chain, prev or GENESIS_HASH, list(range(last_id + 1, last_id + 1 + count))
    # Head and ids in one round trip, read after the lock so the head is the latest.
    # Under the lock sequence values come out in chain order; rolled-back transactions
    # leave gaps, which the chain does not care about.
    last_id, prev, ids = conn.execute(_PG_HEAD_AND_IDS, {"chain": chain, "n": count}).one()
    ids = sorted(int(v) for v in ids)
    if last_id is not None and ids[0] <= last_id:
        # The sequence was reset behind the chains' back: move it past all of them.
        top = max(int(last_id), conn.execute(_MAX_ID).scalar_one())
        conn.execute(_SETVAL, {"v": top + count})
        ids = list(range(top + 1, top + 1 + count))
    return chain, prev or GENESIS_HASH, ids


def record_events(session: Session, records: Sequence[AuditRecord]) -> None:
    """Append `records` to the audit trail (hash-chained) inside the caller's transaction."""
    if not records:
        return
    chain, prev, ids = _append_point(session, len(records))
    rows = []
    for new_id, r in zip(ids, records, strict=True):
        at = r.at if r.at.tzinfo is not None else r.at.replace(tzinfo=UTC)
        digest = hashlib.sha256(
            canonical_event(
                id=new_id,
                chain=chain,
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
                "chain": chain,
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
