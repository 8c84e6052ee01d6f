"""The bulk store of new items: `COPY` into a staging table on PostgreSQL, one large
`executemany` on SQLite, both on the driver connection of the caller's transaction.

`insert_new(session, rows)` stores rows built by ingest (`_new_row`: one dict per item,
keys `COLUMNS`) that are not stored yet and returns `(id, source, external_id)` of those
it inserted, by id; a row whose identity is already stored is skipped, as the general
path's `INSERT ... ON CONFLICT (source, external_id) DO NOTHING` skips it. The values are
encoded as SQLAlchemy encodes them for the `Item` table (JSON text, naive UTC datetimes,
SQLite's datetime text), so both paths store the same rows.

- PostgreSQL: the rows are copied (`COPY ... FROM STDIN`, psycopg's `cursor.copy()`) into
  a temporary table that empties itself at commit, then merged with one
  `INSERT ... SELECT ... ON CONFLICT (source, external_id) DO NOTHING RETURNING`.
- SQLite: writers hold the write lock from `BEGIN IMMEDIATE`, so the rows with an id above
  the largest id before the insert are the ones this insert stored. The per-row counter
  trigger (`item_count_inserted`) costs about as much as the insert itself (SQLite runs
  its program once per row, whatever it does), so for the bulk insert it is dropped and
  re-created from its own `sqlite_master` text inside the transaction, around the
  `executemany`, and `queue_counter` is moved by one grouped statement instead: the
  same counts. The write lock keeps every other connection from writing meanwhile,
  readers only see committed states (in which the trigger is always there), and a
  rollback undoes the drop with everything else. A database without the trigger (an
  older schema) is inserted into as it is.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

from sqlmodel import Session

__all__ = ["COLUMNS", "insert_new", "stored_ids"]

COLUMNS = (
    "source",
    "external_id",
    "text",
    "url",
    "media",
    "content_split",
    "author_id",
    "author_handle",
    "policy",
    "signals",
    "report_count",
    "views",
    "flagged_at",
    "queue",
    "status",
    "priority",
    "priority_breakdown",
    "reporter",
    "ingested_at",
    "updated_at",
    "deadline_at",
    "deadline_state",
    "escalated",
    "notice_type",
    "trusted_flagger",
)
"""The columns ingest sets on a new item, in the order the bulk statements use."""

_JSON = frozenset({"media", "signals", "priority_breakdown", "reporter"})
_DATETIMES = frozenset({"flagged_at", "ingested_at", "updated_at", "deadline_at"})
_STAGE = "modqueue_item_stage"
_SQLITE_KEYS = 2000
"""Identities per SQLite lookup statement (two parameters each)."""
_PG_STORED = (
    "SELECT i.id, i.source, i.external_id FROM item AS i "
    "JOIN unnest(CAST(%s AS text[]), CAST(%s AS text[])) AS k(source, external_id) "
    "ON i.source = k.source AND i.external_id = k.external_id"
)
_COLUMN_LIST = ", ".join(COLUMNS)
_SQLITE_INSERT = (
    f"INSERT INTO item ({_COLUMN_LIST}) VALUES ({', '.join('?' for _ in COLUMNS)}) "
    "ON CONFLICT (source, external_id) DO NOTHING"
)
_COUNTER_TRIGGER = "item_count_inserted"
"""SQLite's row trigger counting each inserted item in `queue_counter` (migration
`0019_hotpath_counters`)."""
_SQLITE_BEFORE = (
    "SELECT (SELECT coalesce(max(id), 0) FROM item), (SELECT sql FROM sqlite_master "
    f"WHERE type = 'trigger' AND name = '{_COUNTER_TRIGGER}' AND tbl_name = 'item')"
)
_SQLITE_COUNT_INSERTED = (
    "INSERT INTO queue_counter (queue, status, slot, n) "
    "SELECT queue, status, 0, count(*) FROM item WHERE id > ? GROUP BY queue, status "
    "ON CONFLICT (queue, status, slot) DO UPDATE SET n = n + excluded.n"
)
"""What the row trigger adds for every row an insert stored, added once per insert: the
rows above the largest id before it are that insert's (writers hold the write lock)."""


def _naive_utc(value: datetime | None) -> datetime | None:
    # As `UTCDateTime` binds it.
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: modqueue stores aware UTC datetimes")
    return value.astimezone(UTC).replace(tzinfo=None)


def _sqlite_datetime(value: datetime | None) -> str | None:
    naive = _naive_utc(value)
    # SQLAlchemy's SQLite DATETIME storage format.
    return None if naive is None else naive.strftime("%Y-%m-%d %H:%M:%S.%f")


def _dumps(value: Any) -> str:
    # SQLAlchemy's JSON type: `json.dumps`, None as JSON null.
    if not value and (value is None or value == []):
        return "null" if value is None else "[]"
    return json.dumps(value)


def _memo(encode: Any) -> Any:
    """`encode` remembering its answers for one batch (the batch's items share `now`,
    and mostly their flag times and deadlines)."""
    seen: dict[Any, Any] = {}

    def cached(value: Any) -> Any:
        try:
            return seen[value]
        except KeyError:
            seen[value] = found = encode(value)
            return found

    return cached


def _encoders(dialect: str) -> list[Any]:
    """One function per column turning a `_new_row` value into what the driver gets."""
    sqlite = dialect == "sqlite"

    encoders: list[Any] = []
    for column in COLUMNS:
        if column in _JSON:
            encoders.append(_dumps)
        elif column in _DATETIMES:
            encoders.append(_memo(_sqlite_datetime if sqlite else _naive_utc))
        elif column == "escalated" and sqlite:
            encoders.append(int)
        else:
            encoders.append(None)
    return encoders


def _tuples(
    rows: Sequence[dict[str, Any]],
    dialect: str,
    encoded: Sequence[Mapping[str, str]] | None = None,
) -> list[tuple[Any, ...]]:
    # The row's values in `COLUMNS` order in one step, then the few that need it encoded
    # (a JSON column whose text `encoded` has is taken from there).
    values_of = itemgetter(*COLUMNS)
    encoders = [
        (i, COLUMNS[i], encode) for i, encode in enumerate(_encoders(dialect)) if encode is not None
    ]
    out: list[tuple[Any, ...]] = []
    for n, row in enumerate(rows):
        values = list(values_of(row))
        texts = encoded[n] if encoded is not None else {}
        for i, column, encode in encoders:
            text = texts.get(column)
            values[i] = encode(values[i]) if text is None else text
        out.append(tuple(values))
    return out


def stored_ids(session: Session, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """The ids of the identities `keys` (`(source, external_id)`) already stored.

    One statement joining the keys as two arrays on PostgreSQL (a row-value `IN` list of
    thousands of pairs is slow to plan there), row-value `IN` lists of `_SQLITE_KEYS`
    pairs on SQLite."""
    if not keys:
        return {}
    conn = session.connection()
    driver: Any = conn.connection.driver_connection
    found: dict[tuple[str, str], int] = {}
    if conn.dialect.name == "postgresql":
        with driver.cursor() as cur:
            cur.execute(_PG_STORED, ([k[0] for k in keys], [k[1] for k in keys]))
            rows = cur.fetchall()
    else:
        rows = []
        cur = driver.cursor()
        try:
            for start in range(0, len(keys), _SQLITE_KEYS):
                part = keys[start : start + _SQLITE_KEYS]
                pairs = ", ".join("(?, ?)" for _ in part)
                cur.execute(
                    "SELECT id, source, external_id FROM item "
                    f"WHERE (source, external_id) IN (VALUES {pairs})",
                    [v for key in part for v in key],
                )
                rows += cur.fetchall()
        finally:
            cur.close()
    for item_id, source, external_id in rows:
        found[(str(source), str(external_id))] = int(item_id)
    return found


def insert_new(
    session: Session,
    rows: Sequence[dict[str, Any]],
    *,
    encoded: Sequence[Mapping[str, str]] | None = None,
) -> list[tuple[int, str, str]]:
    """Insert `rows` (new items, keys `COLUMNS`) in the session's transaction, skipping
    identities already stored: `(id, source, external_id)` of the inserted rows, by id.

    `encoded[i]`, when given, maps some JSON columns of `rows[i]` to their text exactly
    as `json.dumps` prints the value (ingest prints the priority breakdown from
    remembered pieces: `score_item_json`); those are stored as they are."""
    if not rows:
        return []
    session.flush()  # the ORM's pending changes go first, as before a Core statement
    conn = session.connection()
    dialect = conn.dialect.name
    driver: Any = conn.connection.driver_connection
    values = _tuples(rows, dialect, encoded)
    if dialect == "postgresql":
        return _copy_and_merge(driver, values)
    return _executemany(driver, values)


def _copy_and_merge(driver: Any, values: list[tuple[Any, ...]]) -> list[tuple[int, str, str]]:
    with driver.cursor() as cur:
        cur.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {_STAGE} ON COMMIT DELETE ROWS AS "
            f"SELECT 0 AS n, {_COLUMN_LIST} FROM item WITH NO DATA"
        )
        cur.execute(f"DELETE FROM {_STAGE}")  # an earlier batch of this transaction
        with cur.copy(f"COPY {_STAGE} (n, {_COLUMN_LIST}) FROM STDIN") as copy:
            for n, row in enumerate(values):
                copy.write_row((n, *row))
        cur.execute(
            f"INSERT INTO item ({_COLUMN_LIST}) SELECT {_COLUMN_LIST} FROM {_STAGE} ORDER BY n "
            "ON CONFLICT (source, external_id) DO NOTHING RETURNING id, source, external_id"
        )
        inserted = [(int(i), str(s), str(e)) for i, s, e in cur.fetchall()]
    inserted.sort()
    return inserted


def _executemany(driver: Any, values: list[tuple[Any, ...]]) -> list[tuple[int, str, str]]:
    cur = driver.cursor()
    try:
        cur.execute(_SQLITE_BEFORE)
        before, trigger = cur.fetchone()
        if trigger is not None:
            # The counter is moved once for the whole insert (below), not by the row
            # trigger once per row: see `_SQLITE_COUNT_INSERTED`.
            cur.execute(f"DROP TRIGGER {_COUNTER_TRIGGER}")
        try:
            cur.executemany(_SQLITE_INSERT, values)
        finally:
            if trigger is not None and driver.in_transaction:
                cur.execute(trigger)
                cur.execute(_SQLITE_COUNT_INSERTED, (before,))
        cur.execute("SELECT id, source, external_id FROM item WHERE id > ? ORDER BY id", (before,))
        return [(int(i), str(s), str(e)) for i, s, e in cur.fetchall()]
    finally:
        cur.close()
