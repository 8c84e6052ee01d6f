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
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, TypedDict

from sqlalchemy import Connection, Engine, Table, bindparam, event, func, insert, select, text
from sqlmodel import Session

from modqueue.queue._audit.personal import split_personal
from modqueue.queue._core.models import AuditEvent
from modqueue.queue._core.prepared import Prepared
from modqueue.queue._core.privacy_models import AuditPersonal

__all__ = [
    "AUDIT_NEXT_SETTING",
    "COPY_FROM",
    "GENESIS_HASH",
    "PG_AUDIT_CHAINS",
    "PG_AUDIT_CHAIN_LOCK",
    "SERVICE_KEY",
    "TRY_CHAIN_SQL",
    "AuditRecord",
    "EventChanges",
    "canonical_event",
    "chain_prologue",
    "event_hash",
    "note_prologue",
    "record_event",
    "record_events",
    "try_chain_params",
]

GENESIS_HASH = "0" * 64  # `prev_hash` of the first event
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
PG_AUDIT_CHAIN_LOCK = 7_244_310_008  # advisory lock key of chain 0; chain k uses key + k
PG_AUDIT_CHAINS = 16  # chains on PostgreSQL: how many transactions can append at once

AUDIT: Table = AuditEvent.metadata.tables["audit_event"]
_INSERT_AUDIT = insert(AUDIT)
_INSERT_PERSONAL = insert(AuditPersonal.metadata.tables["audit_personal"])
_HEAD = (
    select(AUDIT.c.id, AUDIT.c.hash)
    .where(AUDIT.c.chain == bindparam("chain"))
    # `chain DESC, id DESC` (not just `id DESC`): the order of `ix_audit_event_chain`, so
    # on the partitioned table each partition reads one entry of it, never its primary
    # key backwards past the other chains' events. The PostgreSQL lookups below also test
    # `chain = ANY(ARRAY[...])`, not `chain = ...`: an equality makes the planner drop
    # `chain` from the order (it is fixed), and with `id DESC` alone it may again walk a
    # partition's `(id, at)` key backwards (seen: 20,000 rows of the other chains read
    # in a partition holding none of this chain's).
    .order_by(AUDIT.c.chain.desc(), AUDIT.c.id.desc())
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
COPY_FROM = 100
"""Events per append from which PostgreSQL gets them with `COPY` (`_insert_audit`)."""
_CHAIN_KEY = "modqueue_audit_chain"  # Connection.info: the transaction's `_ChainState`
_COLUMNS = ["id", "chain", "at", "actor", "event", "item_id", "before", "after", "detail"]
_COLUMNS += ["prev_hash", "hash"]
_COPY_AUDIT = f"COPY audit_event ({', '.join(_COLUMNS)}) FROM STDIN"
# One event, inserted only if the chain's head is still `g_last` (0: the chain is empty).
_GUARDED_INSERT = (
    insert(AUDIT)
    .from_select(
        _COLUMNS,
        select(*[bindparam(f"p_{c}", type_=AUDIT.c[c].type) for c in _COLUMNS]).where(
            func.coalesce(
                select(func.max(AUDIT.c.id))
                .where(AUDIT.c.chain == bindparam("g_chain"))
                .scalar_subquery(),
                0,
            )
            == bindparam("g_last")
        ),
    )
    .returning(AUDIT.c.id)
)
# The same two inserts for one event, compiled once and run on the driver (the hot path
# appends one event per transaction).
_GUARDED = Prepared(_GUARDED_INSERT)
_INSERT_ONE = Prepared(
    insert(AUDIT).values({c: bindparam(c, type_=AUDIT.c[c].type) for c in _COLUMNS})
)
_PG_IDS = text(
    "SELECT nextval(pg_get_serial_sequence('audit_event', 'id')) FROM generate_series(1, :n)"
)
_PG_HEAD_AND_IDS = text(
    "SELECT h.id, h.hash, ARRAY(SELECT nextval(pg_get_serial_sequence('audit_event', 'id')) "
    "FROM generate_series(1, :n)) FROM (SELECT 1) AS one LEFT JOIN LATERAL (SELECT id, hash "
    "FROM audit_event WHERE chain = ANY(ARRAY[CAST(:chain AS integer)]) "
    "ORDER BY chain DESC, id DESC LIMIT 1) AS h ON true"
)


SERVICE_KEY = "modqueue_service"
"""`session.info` key: the service identity a service process's writes are attributed to."""


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


class EventChanges(TypedDict, total=False):
    """What an `AuditRecord` holds beside who, what, when and which item."""

    before: dict[str, Any] | None
    after: dict[str, Any] | None
    detail: dict[str, Any] | None


def _iso(at: datetime) -> str:
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def _json_value(value: dict[str, Any] | None) -> Any:
    # What the JSON column gives back: keys become strings, tuples lists. Only keys that
    # are not strings hash differently before and after (they sort and print otherwise);
    # a tuple or a `str` enum prints as the list or string it comes back as, so a value
    # with string keys throughout is hashed as it is, without the round trip.
    if value is None or _string_keyed(value):
        return value
    return json.loads(json.dumps(value))


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _string_keyed(value: Any) -> bool:
    """Whether every dict in `value` (nested in dicts, lists and tuples) has str keys."""
    if type(value) in _SCALARS:
        return True
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or (type(item) not in _SCALARS and not _string_keyed(item)):
                return False
        return True
    if isinstance(value, list | tuple):
        return all(_string_keyed(v) for v in value)
    return True  # not JSON: the encoder refuses it, as the round trip would


# The canonical form: sorted keys, no spaces, UTF-8 (`canonical_event`).
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


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
    return _canonical(id, chain, _iso(at), actor, event, item_id, before, after, detail, prev_hash)


def _canonical(
    id: int,
    chain: int,
    at_text: str,
    actor: str,
    event: str,
    item_id: int | None,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    detail: dict[str, Any] | None,
    prev_hash: str,
) -> bytes:
    """`canonical_event` with `at` already printed (`_iso`)."""
    doc = {
        "id": id,
        "at": at_text,
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
    return _CANONICAL.encode(doc).encode()


def event_hash(row: AuditEvent, prev_hash: str) -> str:
    """The SHA-256 (hex) that `row` must carry when it follows an event hashed `prev_hash`."""
    assert row.id is not None
    record = AuditRecord(
        row.actor, row.event, row.at, row.item_id, row.before, row.after, row.detail
    )
    return _record_hash(row.id, row.chain, record, prev_hash)


def _record_hash(id: int, chain: int, r: AuditRecord, prev_hash: str, at_text: str = "") -> str:
    """The SHA-256 (hex) of `r` stored as event `id` of `chain` after `prev_hash`;
    `at_text`: `_iso(r.at)`, when the caller has it."""
    return hashlib.sha256(
        _canonical(
            id,
            chain,
            at_text or _iso(r.at),
            r.actor,
            r.event,
            r.item_id,
            r.before,
            r.after,
            r.detail,
            prev_hash,
        )
    ).hexdigest()


# The audit side of a transaction's first statement (`chain_prologue`): which chain, its
# head and, on PostgreSQL, one id taken ahead. The head is read in the same statement
# that takes the chain's lock, so on PostgreSQL it may miss an append committed just
# before the lock was granted; the first append checks it (`_GUARDED_INSERT`).
_PG_PROLOGUE_COLUMNS = (
    "c.chain AS audit_chain, h.id AS audit_head_id, h.hash AS audit_head_hash, "
    "c.next_id AS audit_next_id"
)
AUDIT_NEXT_SETTING = "modqueue.audit_next"
"""The transaction-local setting (`set_config(..., true)`) in which a PostgreSQL
prologue leaves `chain:id`, the chain it locked and the id it took ahead ('' when no
chain was free), for a later statement of the transaction that appends without being
told them (`_audit.inline`, `ids_from_setting`)."""
_PG_CHAIN_FROM = (
    "(SELECT chain, CASE WHEN chain IS NULL THEN "
    f"CAST(NULLIF(set_config('{AUDIT_NEXT_SETTING}', '', true), '') AS bigint) ELSE "
    f"CAST(split_part(set_config('{AUDIT_NEXT_SETTING}', chain || ':' || "
    "nextval(pg_get_serial_sequence('audit_event', 'id')), true), ':', 2) AS bigint) "
    f"END AS next_id FROM (SELECT ({TRY_CHAIN_SQL}) AS chain) AS t) AS c"
)
_PG_PROLOGUE_FROM = (
    f"{_PG_CHAIN_FROM} LEFT JOIN LATERAL (SELECT id, hash FROM audit_event "
    "WHERE chain = ANY(ARRAY[c.chain]) ORDER BY chain DESC, id DESC LIMIT 1) AS h ON true"
)
# The same without the head (`chain_prologue(..., head=False)`): for a transaction whose
# append reads the head itself, under the lock (the claim statement's inline append).
_PG_PROLOGUE_HEADLESS_COLUMNS = (
    "c.chain AS audit_chain, CAST(NULL AS bigint) AS audit_head_id, "
    "CAST(NULL AS text) AS audit_head_hash, c.next_id AS audit_next_id"
)
_SQLITE_PROLOGUE_COLUMNS = (
    "0 AS audit_chain, h.id AS audit_head_id, h.hash AS audit_head_hash, NULL AS audit_next_id"
)
_SQLITE_PROLOGUE_FROM = (
    "(SELECT 1) AS one LEFT JOIN (SELECT id, hash FROM audit_event WHERE chain = 0 "
    "ORDER BY id DESC LIMIT 1) AS h ON 1 = 1"
)


@dataclass(slots=True)
class _ChainState:
    """What a transaction knows of the chain it appends to."""

    transaction: object
    chain: int
    head: tuple[int, str] | None  # (id, hash) of the chain's last event; None: re-read
    checked: bool  # the head is known to be current (read or written under the lock)
    spare_ids: list[int] = field(default_factory=list)


def chain_prologue(dialect: str, *, head: bool = True) -> tuple[str, str]:
    """`(columns, from_clause)` to put the audit chain's set-up into a transaction's
    first statement, saving a round trip: `SELECT {columns}, ... FROM {from_clause}
    LEFT JOIN ...`; bind `try_chain_params()` and pass the row to `note_prologue`.

    `head=False` (PostgreSQL): the chain's lock and an id taken ahead, but not its head
    (`audit_head_id` is NULL), for a transaction whose append reads the head itself
    under the lock (`_audit.inline`): the head is a scan of every `audit_event`
    partition's index. An append that is not inline then reads the head under the lock
    (`record_events`), as after a stale head. SQLite reads the head either way: under its
    write lock it is current, and its appends use it."""
    if dialect == "postgresql":
        if not head:
            return _PG_PROLOGUE_HEADLESS_COLUMNS, _PG_CHAIN_FROM
        return _PG_PROLOGUE_COLUMNS, _PG_PROLOGUE_FROM
    return _SQLITE_PROLOGUE_COLUMNS, _SQLITE_PROLOGUE_FROM


def try_chain_params() -> dict[str, int]:
    """Parameters for `TRY_CHAIN_SQL`: each process starts its search at its own chain."""
    return {
        "chain_start": os.getpid() % PG_AUDIT_CHAINS,
        "chain_n": PG_AUDIT_CHAINS,
        "chain_key": PG_AUDIT_CHAIN_LOCK,
    }


def note_prologue(
    conn: Connection,
    *,
    chain: int | None,
    head_id: int | None,
    head_hash: str | None,
    next_id: int | None,
    head: bool = True,
) -> None:
    """Keep what a `chain_prologue` read for this transaction's appends. `chain` None:
    no chain lock was free (PostgreSQL); the first append takes one itself. `head`
    False: the prologue did not read the head (`chain_prologue(..., head=False)`), so
    `head_id` None does not mean an empty chain; the first append that is not inline
    reads it."""
    current: _ChainState | None = conn.info.get(_CHAIN_KEY)
    if chain is None or (current is not None and current.transaction is conn.get_transaction()):
        return  # none free, or the transaction already has its chain
    known: tuple[int, str] | None = None
    if head:
        known = (int(head_id), head_hash or GENESIS_HASH) if head_id is not None else None
        known = known or (0, GENESIS_HASH)
    conn.info[_CHAIN_KEY] = _ChainState(
        transaction=conn.get_transaction(),
        chain=int(chain),
        head=known,
        # SQLite: read under the BEGIN IMMEDIATE write lock, so current.
        checked=conn.dialect.name != "postgresql",
        spare_ids=[int(next_id)] if next_id is not None else [],
    )


@event.listens_for(Engine, "rollback_savepoint")
def _forget_head_on_savepoint_rollback(conn: Connection, name: str, context: object) -> None:
    # Events appended inside the savepoint are gone: read the head again (the chain's
    # lock is still held, so the chain stays ours).
    state = conn.info.get(_CHAIN_KEY)
    if state is not None:
        state.head = None


def _state(conn: Connection) -> _ChainState:
    """This transaction's chain, taking (and on PostgreSQL locking) one if needed."""
    state: _ChainState | None = conn.info.get(_CHAIN_KEY)
    if state is not None and state.transaction is conn.get_transaction():
        return state
    chain = 0
    if conn.dialect.name == "postgresql":
        params = try_chain_params()
        free = conn.execute(_TRY_CHAIN, params).scalar()
        if free is None:  # every chain busy: wait for this process's own
            conn.execute(_LOCK, {"k": PG_AUDIT_CHAIN_LOCK + params["chain_start"]})
        chain = params["chain_start"] if free is None else int(free)
    state = _ChainState(
        transaction=conn.get_transaction(), chain=int(chain), head=None, checked=False
    )
    conn.info[_CHAIN_KEY] = state
    return state


def _read_head(conn: Connection, state: _ChainState, count: int) -> list[int]:
    """Read the chain's head under its lock; returns ids for `count` events."""
    if conn.dialect.name != "postgresql":
        last = conn.execute(_HEAD, {"chain": state.chain}).one_or_none()
        state.head = (int(last[0]), last[1] or GENESIS_HASH) if last else (0, GENESIS_HASH)
        state.checked = True
        return list(range(state.head[0] + 1, state.head[0] + 1 + count))
    # Head and ids in one round trip. Under the lock sequence values come out in chain
    # order; rolled-back transactions leave gaps, which the chain does not care about.
    last_id, prev, ids = conn.execute(_PG_HEAD_AND_IDS, {"chain": state.chain, "n": count}).one()
    state.head = (int(last_id), prev or GENESIS_HASH) if last_id is not None else (0, GENESIS_HASH)
    state.checked = True
    state.spare_ids = []
    ids = sorted(int(v) for v in ids)
    if ids[0] <= state.head[0]:
        # The sequence was reset behind the chains' back: move it past all of them.
        top = max(state.head[0], conn.execute(_MAX_ID).scalar_one())
        conn.execute(_SETVAL, {"v": top + count})
        ids = list(range(top + 1, top + 1 + count))
    return ids


def _ids(conn: Connection, state: _ChainState, count: int) -> list[int]:
    """Ids for `count` events after a known head."""
    assert state.head is not None
    if conn.dialect.name != "postgresql":
        return list(range(state.head[0] + 1, state.head[0] + 1 + count))
    ids, state.spare_ids = state.spare_ids[:count], state.spare_ids[count:]
    if len(ids) < count:
        ids += [int(v) for v in conn.execute(_PG_IDS, {"n": count - len(ids)}).scalars()]
    return sorted(ids)


def _rows(
    records: Sequence[AuditRecord], chain: int, prev: str, ids: list[int]
) -> list[dict[str, Any]]:
    rows = []
    # A batch's events mostly share one `at`: converted and printed once per object.
    last_at: datetime | None = None
    at, at_text = _EPOCH, ""
    for new_id, r in zip(ids, records, strict=True):
        if r.at is not last_at:
            last_at = r.at
            at = r.at if r.at.tzinfo is not None else r.at.replace(tzinfo=UTC)
            at_text = _iso(r.at)
        digest = _record_hash(new_id, chain, r, prev, at_text)
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
    return rows


def _insert_audit(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Insert `rows`: one `executemany` (on SQLite the driver's, `Prepared.executemany`),
    or on PostgreSQL from `COPY_FROM` rows on one
    `COPY ... FROM STDIN` (a set decision's or an ingest batch's events), which spares
    the per-row statement work of the `executemany` and its parameter conversion."""
    if conn.dialect.name != "postgresql":
        # The prepared insert's bind processors, on the driver's `executemany`: the
        # values `conn.execute(_INSERT_AUDIT, rows)` would send, without its per-row work.
        _INSERT_ONE.executemany(conn, rows)
        return
    if len(rows) < COPY_FROM:
        conn.execute(_INSERT_AUDIT, rows)
        return
    driver = conn.connection.driver_connection
    assert driver is not None
    dumps = json.dumps  # what the JSON columns store (SQLAlchemy's default serializer)
    with driver.cursor() as cursor, cursor.copy(_COPY_AUDIT) as copy:
        for row in rows:
            before, after, detail = row["before"], row["after"], row["detail"]
            copy.write_row(
                (
                    row["id"],
                    row["chain"],
                    row["at"].astimezone(UTC).replace(tzinfo=None),  # as `UTCDateTime`
                    row["actor"],
                    row["event"],
                    row["item_id"],
                    None if before is None else dumps(before),
                    None if after is None else dumps(after),
                    None if detail is None else dumps(detail),
                    row["prev_hash"],
                    row["hash"],
                )
            )


def record_events(session: Session, records: Sequence[AuditRecord]) -> None:
    """Append `records` to the audit trail (hash-chained) inside the caller's transaction.

    In a service process (`ReviewQueue.service` set: `modqueue serve`, `modqueue actions
    dispatch`) each event's detail names the verified service identity as `service`."""
    if not records:
        return
    service = session.info.get(SERVICE_KEY)
    if service is not None:
        records = [replace(r, detail={**(r.detail or {}), "service": service}) for r in records]
    records, personal = _split(records)
    conn = session.connection()
    state = _state(conn)
    if state.head is not None and not state.checked and len(records) == 1 and state.spare_ids:
        # PostgreSQL, head from the prologue: insert only if it is still the head.
        rows = _rows(records, state.chain, state.head[1], [state.spare_ids.pop(0)])
        guard = {f"p_{k}": v for k, v in rows[0].items()}
        guard |= {"g_chain": state.chain, "g_last": state.head[0]}
        if _GUARDED.first(conn, guard) is not None:
            state.head, state.checked = (rows[0]["id"], rows[0]["hash"]), True
            _insert_personal(conn, rows, personal)
            return
    if state.head is None or not state.checked:
        ids = _read_head(conn, state, len(records))
    else:
        ids = _ids(conn, state, len(records))
    assert state.head is not None
    rows = _rows(records, state.chain, state.head[1], ids)
    if len(rows) == 1:
        _INSERT_ONE.execute(conn, rows[0])
    else:
        _insert_audit(conn, rows)
    state.head = (rows[-1]["id"], rows[-1]["hash"])
    _insert_personal(conn, rows, personal)


def _split(
    records: Sequence[AuditRecord],
) -> tuple[list[AuditRecord], list[tuple[str, dict[str, Any]] | None]]:
    """`records` with their personal fields replaced by digests (`split_personal`), and
    for each the `(nonce, values)` that go to `audit_personal` (None: nothing personal)."""
    out: list[AuditRecord] = []
    personal: list[tuple[str, dict[str, Any]] | None] = []
    for r in records:
        parts, nonce, moved = split_personal(
            {"before": r.before, "after": r.after, "detail": r.detail}
        )
        if moved:
            r = replace(r, before=parts["before"], after=parts["after"], detail=parts["detail"])
        out.append(r)
        personal.append((nonce, moved) if moved else None)
    return out, personal


def _insert_personal(
    conn: Connection,
    rows: list[dict[str, Any]],
    personal: list[tuple[str, dict[str, Any]] | None],
) -> None:
    side = [
        {"event_id": row["id"], "item_id": row["item_id"], "nonce": p[0], "data": p[1]}
        for row, p in zip(rows, personal, strict=True)
        if p is not None
    ]
    if side:
        conn.execute(_INSERT_PERSONAL, side)


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
