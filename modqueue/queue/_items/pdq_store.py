"""The stored PDQ hashes of clustered content, searched in memory: which stored images lie
within a Hamming distance of a batch's images.

Each item's PDQ hashes are stored in `fingerprint_pdq` (one row per hash that its
cluster did not already have, as `assign_clusters` writes them). Looking a hash up by
16-bit chunk keys in SQL asked 272 keys per image (every chunk and its 16 one-bit
neighbours, which distance 31 needs) and, as images accumulate, returned hundreds of
unrelated images sharing a chunk that were then loaded and checked. Instead each
process keeps the rows in a `PdqIndex` per database (`StoredPdq`) and brings it up to
date at the start of every batch from the rows added since, in the batch's transaction:

- SQLite: `fingerprint_pdq` ids never repeat (`AUTOINCREMENT`) and write transactions
  take turns (`BEGIN IMMEDIATE`), so when a batch runs every committed row with a larger
  id than the last one read is new. A count and sum of the rows up to that id tell
  whether rows were deleted or the table made anew; then the index is read again.
  Rows this transaction wrote itself (a second batch in one transaction) are read apart
  and never kept: they may still be rolled back.
- PostgreSQL: transactions commit out of id order, so each row carries the id of the
  transaction that wrote it (`xact`, `pg_current_xact_id()`). Every transaction older
  than the oldest one still running (`pg_snapshot_xmin`) has finished, so rows written
  by transactions from that point on are read again at the next batch (each kept once),
  and none is ever missed.

A row deleted since it was read (media fetched again) stays in the index of a process
that read it: its item is only a candidate, and is then checked against the
fingerprints read from the database.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
from sqlalchemy.engine import Engine
from sqlmodel import Session

from modqueue.queue._items.pdq_index import MIH_MAX_DISTANCE, PdqIndex, pdq_bytes

__all__ = ["OWN_FLOOR", "StoredPdq", "pdq_neighbours"]

OWN_FLOOR = "modqueue_pdq_own_floor"
"""`session.info` key (SQLite): `(transaction, largest fingerprint_pdq id before this
transaction's first insert)`."""
_REBUILD_SHARE = 8
"""The recent rows are merged into the index once they are an eighth of it (or 2,048):
the index is built again at most a few dozen times as it grows tenfold."""
_SCAN_PAIRS = 1 << 20
"""Query and recent-row pairs compared at once (`_scan`)."""


@dataclass(slots=True)
class StoredPdq:
    """One process's copy of one database's `fingerprint_pdq` (see the module
    docstring)."""

    index: PdqIndex = field(default_factory=lambda: PdqIndex([], []))
    recent_items: list[int] = field(default_factory=list)
    recent_hashes: list[str] = field(default_factory=list)
    mark: int = 0
    """SQLite: the largest row id read; PostgreSQL: the oldest transaction id whose rows
    may still be unread."""
    count: int = 0
    total: int = 0
    """SQLite: number and sum of item ids of the rows read (up to `mark`)."""
    unsettled: set[int] = field(default_factory=set)
    """PostgreSQL: the row ids read whose transaction may still have been running."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, rows: Sequence[tuple[int, str]]) -> None:
        self.recent_items.extend(item for item, _ in rows)
        self.recent_hashes.extend(value for _, value in rows)
        if len(self.recent_items) > max(2048, len(self.index) // _REBUILD_SHARE):
            hashes = [*_index_hashes(self.index), *self.recent_hashes]
            items = [*self.index.ids.tolist(), *self.recent_items]
            self.index = PdqIndex(hashes, items)
            self.recent_items, self.recent_hashes = [], []


def _index_hashes(index: PdqIndex) -> list[str]:
    raw: bytes = index.words.astype(">u8").tobytes()
    hexed = raw.hex()
    return [hexed[i * 64 : (i + 1) * 64] for i in range(len(index))]


_STORES: weakref.WeakKeyDictionary[Engine, StoredPdq] = weakref.WeakKeyDictionary()
_STORES_LOCK = threading.Lock()


def _store_of(session: Session) -> StoredPdq:
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    with _STORES_LOCK:
        store = _STORES.get(engine)
        if store is None:
            store = _STORES[engine] = StoredPdq()
        return store


def _rows(session: Session, query: str, *params: Any) -> list[Any]:
    cursor = session.connection().connection.cursor()
    try:
        cursor.execute(query, params)
        return list(cursor.fetchall())
    finally:
        cursor.close()


def _own_floor(session: Session) -> int | None:
    held = session.info.get(OWN_FLOOR)
    if held is None:
        return None
    transaction, floor = held
    return floor if transaction() is session.get_transaction() else None


def _refresh_sqlite(session: Session, store: StoredPdq) -> list[tuple[int, str]]:
    """Bring `store` up to date (SQLite); returns this transaction's own rows."""
    count, total = _rows(
        session,
        "SELECT count(*), coalesce(sum(item_id), 0) FROM fingerprint_pdq WHERE id <= ?",
        store.mark,
    )[0]
    if (count, total) != (store.count, store.total):
        store.index, store.recent_items, store.recent_hashes = PdqIndex([], []), [], []
        store.mark = store.count = store.total = 0
    floor = _own_floor(session)
    upper = floor if floor is not None else (1 << 62)
    rows = _rows(
        session,
        "SELECT id, item_id, value FROM fingerprint_pdq WHERE id > ? AND id <= ? ORDER BY id",
        store.mark,
        upper,
    )
    if rows:
        store.add([(item, value) for _, item, value in rows])
        store.mark = rows[-1][0]
        store.count += len(rows)
        store.total += sum(item for _, item, _ in rows)
    if floor is None:
        return []
    own = _rows(session, "SELECT item_id, value FROM fingerprint_pdq WHERE id > ?", floor)
    return [(item, value) for item, value in own]


def _refresh_postgres(session: Session, store: StoredPdq) -> None:
    """Bring `store` up to date (PostgreSQL)."""
    (oldest,) = _rows(session, "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")[0]
    rows = _rows(
        session,
        "SELECT id, item_id, value, xact FROM fingerprint_pdq WHERE xact >= %s",
        store.mark,
    )
    fresh = [(item, value) for row_id, item, value, _ in rows if row_id not in store.unsettled]
    store.add(fresh)
    store.unsettled = {row_id for row_id, _, _, xact in rows if xact >= oldest}
    store.mark = max(store.mark, oldest)


def _chunk_hits(
    rows: np.ndarray[Any, np.dtype[np.uint64]], query: np.ndarray[Any, np.dtype[np.uint64]]
) -> list[int]:
    """Of the 16 chunks of 16 bits, how many of each row differ from `query`'s in at
    most one bit (`fingerprints.pdq_chunk_hits`, for many at once)."""
    differing = np.bitwise_count(np.ascontiguousarray(rows ^ query).view(np.uint16))
    hits: list[int] = (differing <= 1).sum(axis=1).tolist()
    return hits


def _scan(
    stored: np.ndarray[Any, np.dtype[np.uint64]],
    queries: np.ndarray[Any, np.dtype[np.uint64]],
    max_distance: int,
) -> tuple[np.ndarray[Any, np.dtype[np.intp]], np.ndarray[Any, np.dtype[np.intp]]]:
    """Every `(query, row)` pair within `max_distance`, comparing all with all (the
    recent rows, not in the index yet), a few million pairs at a time."""
    step = max(1, _SCAN_PAIRS // max(1, len(stored)))
    found_query, found_row = [], []
    for first in range(0, len(queries), step):
        block = queries[first : first + step]
        distances = np.bitwise_count(stored[None, :, :] ^ block[:, None, :]).sum(axis=2)
        near_query, near_row = np.nonzero(distances <= max_distance)
        found_query.append(near_query + first)
        found_row.append(near_row)
    return np.concatenate(found_query), np.concatenate(found_row)


def pdq_neighbours(
    session: Session, queries: dict[int, list[str]], max_distance: int = MIH_MAX_DISTANCE
) -> dict[int, dict[int, tuple[str, int]]]:
    """For each item of `queries` (its PDQ hashes), the stored items with a PDQ hash
    within `max_distance` (at most `MIH_MAX_DISTANCE`) of one of them: `{item id:
    {stored item id: (its stored hash, the 16-bit chunks it shares within one bit)}}`
    (the hash sharing most chunks when several are near). The database's
    `fingerprint_pdq` rows are brought in first (see the module docstring)."""
    max_distance = min(max_distance, MIH_MAX_DISTANCE)
    store = _store_of(session)
    found: dict[int, dict[int, tuple[str, int]]] = {}
    with store.lock:
        if session.get_bind().dialect.name == "postgresql":
            _refresh_postgres(session, store)
            own: list[tuple[int, str]] = []
        else:
            own = _refresh_sqlite(session, store)
        if not any(queries.values()):
            return found
        recent_items = [*store.recent_items, *(item for item, _ in own)]
        recent_hashes = [*store.recent_hashes, *(value for _, value in own)]
        index = store.index
        owners = [item_id for item_id, hashes in queries.items() for _ in hashes]
        asked = [pdq for hashes in queries.values() for pdq in hashes]
        words = pdq_bytes(asked).view(">u8").astype(np.uint64)
        # (query, stored item, stored hash) for the index, then for the recent rows.
        query, rows = index.search_many(asked, max_distance)
        stored_ids = cast(list[int], index.ids[rows].tolist())
        stored_words = index.words[rows]
        if recent_items:
            recent = pdq_bytes(recent_hashes).view(">u8").astype(np.uint64)
            near_query, near_row = _scan(recent, words, max_distance)
            query = np.concatenate([query, near_query])
            picked = cast(list[int], near_row.tolist())
            stored_ids += [recent_items[r] for r in picked]
            stored_words = np.concatenate([stored_words, recent[near_row]])
        if not len(query):
            return found
        hits = _chunk_hits(stored_words, words[query])
        hexed = stored_words.astype(">u8").tobytes().hex()
        askers = cast(list[int], query.tolist())
        for n, (asker, other, shared) in enumerate(zip(askers, stored_ids, hits, strict=True)):
            near = found.setdefault(owners[asker], {})
            if other not in near or shared > near[other][1]:
                near[other] = (hexed[n * 64 : (n + 1) * 64], shared)
    return found
