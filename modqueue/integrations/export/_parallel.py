"""The JSON Lines fast path on PostgreSQL in worker processes, written in order by the
caller: the same bytes and statistics as one process, faster only where cores are free
(the export is Python-bound; `COPY` itself is cheap).

As `pg_dump -j` does it: the caller's read-only transaction exports its snapshot
(`pg_export_snapshot()`), each worker opens its own connection and imports it
(`REPEATABLE READ`, `SET TRANSACTION SNAPSHOT`), so every worker reads the database
exactly as the caller's transaction sees it. The decided items are cut into chunks of
`CHUNK_IDS` consecutive item ids; workers build the records of one chunk at a time
(`_copy.encode_copy` over a `COPY` of that id range) and send them back, at most two chunks
per worker in flight, so memory stays bounded whatever the size of the table. The caller
writes the chunks in id order: the first records of each split, until one with media and
one with agreement came by (at most the writer's `hold`), go one by one through
`JsonlWriter.write_line` (its holding back), the rest as one string. The card's
statistics are added in chunk order (agreement per multi-label item, the tally, the
first and last decision time), so they equal one process's.

Opt-in (`workers=N`; the default `WORKERS` is one process). Workers are forked (the
pseudonymisation key is inherited in memory: it is never pickled, sent or written);
without `fork` (not Linux), on a hot standby (which cannot
export a snapshot) or with fewer than two chunks the export runs in one process.
"""

from __future__ import annotations

import multiprocessing
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from modqueue.integrations.export._card import CardStats
from modqueue.integrations.export._copy import (
    PG_SETTINGS,
    Tally,
    copy_rows,
    encode_copy,
    finish_copy_stats,
    pg_sql,
)
from modqueue.integrations.export._lines import write_jsonl
from modqueue.integrations.export._privacy import Pseudonymiser
from modqueue.integrations.export._writers import JsonlWriter
from modqueue.queue import SPLITS

__all__ = ["CHUNK_IDS", "WORKERS", "write_jsonl_fast"]

CHUNK_IDS = 20_000
"""Consecutive item ids per chunk (about 10 MB of records when all are decided)."""
WORKERS = 1
"""Worker processes unless the caller asks for more (`workers=`, `modqueue export
--workers`): on the shared 2-core benchmark machine, under load, two workers were slower
than one process (bench/RESULTS_export.md), so more are opt-in, as `pg_dump -j` is."""


@dataclass
class _Split:
    """One split's records of a chunk: `head` one by one until a record with media and
    one with agreement came by (or the writer's `hold` records), then `rest` as encoded
    lines."""

    head: list[tuple[str, bool, bool]] = field(default_factory=list)
    seen_media: bool = False
    seen_agreement: bool = False
    rest: list[str] = field(default_factory=list)


@dataclass
class _Chunk:
    """What a worker sends back for one chunk."""

    heads: dict[str, list[tuple[str, bool, bool]]]
    rests: dict[str, str]
    labels: list[tuple[str, list[str]]]
    tally: Tally
    first: str | None
    last: str | None


class _Collector:
    def __init__(self, hold: int) -> None:
        self.hold = hold
        self.splits = {s: _Split() for s in SPLITS}
        self.labels: list[tuple[str, list[str]]] = []

    def write_line(self, split: str, line: str, *, media: bool, agreement: bool) -> None:
        part = self.splits[split]
        # After `hold` records the writer holds nothing back any more either.
        if (part.seen_media and part.seen_agreement) or len(part.head) >= self.hold:
            part.rest.append(line)
            return
        part.head.append((line, media, agreement))
        part.seen_media = part.seen_media or media
        part.seen_agreement = part.seen_agreement or agreement

    def holding(self, split: str) -> bool:
        """Whether `write_line` would still keep `split`'s next record in the head."""
        part = self.splits[split]
        return not (part.seen_media and part.seen_agreement) and len(part.head) < self.hold

    def write_text(self, split: str, lines: str) -> None:
        self.splits[split].rest.append(lines)

    def add_labels(self, policy: str, labels: list[str]) -> None:
        self.labels.append((policy, labels))


@dataclass
class _Job:
    conninfo: dict[str, Any]
    snapshot: str
    names: Pseudonymiser
    policy: str | None
    since: datetime | None
    hold: int


_JOB: _Job | None = None
_RAW: Any = None


def _start(job: _Job) -> None:
    """A worker's start: its own connection, in the caller's snapshot."""
    import psycopg

    global _JOB, _RAW
    _JOB = job
    _RAW = psycopg.connect(**job.conninfo, autocommit=True)  # BEGIN is ours
    _RAW.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    _RAW.execute(f"SET TRANSACTION SNAPSHOT '{job.snapshot}'")
    for setting in PG_SETTINGS:
        _RAW.execute(setting)


def _chunk(ids: tuple[int, int]) -> _Chunk:
    """The records of items `ids[0] <= id < ids[1]`, in a worker."""
    assert _JOB is not None
    sql, params = pg_sql(_JOB.policy, _JOB.since, ids)
    collect = _Collector(_JOB.hold)
    tally, first, last = encode_copy(
        copy_rows(_RAW, sql, params), _JOB.names, collect, collect.add_labels
    )
    return _Chunk(
        heads={s: p.head for s, p in collect.splits.items()},
        rests={s: "".join(p.rest) for s, p in collect.splits.items()},
        labels=collect.labels,
        tally=tally,
        first=first,
        last=last,
    )


def _chunks_of(conn: Connection) -> list[tuple[int, int]]:
    """The id ranges `[lo, hi)` covering every item, `CHUNK_IDS` ids each."""
    lo, hi = conn.exec_driver_sql("SELECT min(id), max(id) FROM item").one()
    if lo is None:
        return []
    step = CHUNK_IDS
    return [(a, min(a + step, int(hi) + 1)) for a in range(int(lo), int(hi) + 1, step)]


def write_jsonl_fast(
    conn: Connection,
    names: Pseudonymiser,
    writer: JsonlWriter,
    stats: CardStats,
    *,
    policy: str | None = None,
    since: datetime | None = None,
    batch: int = 2000,
    workers: int | None = None,
) -> None:
    """The JSON Lines fast path: in `workers` processes (default `WORKERS`) on
    PostgreSQL through psycopg where the platform forks, the server is not a hot standby
    and the items span two chunks or more, else in this process (`write_jsonl`)."""
    workers = WORKERS if workers is None else workers
    postgres = conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg"
    if (
        workers > 1
        and postgres
        and "fork" in multiprocessing.get_all_start_methods()
        # A hot standby cannot export its snapshot (`pg_export_snapshot`).
        and not conn.exec_driver_sql("SELECT pg_is_in_recovery()").scalar_one()
    ):
        ranges = _chunks_of(conn)
        if len(ranges) > 1:
            write_jsonl_parallel(
                conn, names, writer, stats, ranges, policy=policy, since=since, workers=workers
            )
            return
    write_jsonl(conn, names, writer, stats, policy=policy, since=since, batch=batch)


def write_jsonl_parallel(
    conn: Connection,
    names: Pseudonymiser,
    writer: JsonlWriter,
    stats: CardStats,
    ranges: list[tuple[int, int]],
    *,
    policy: str | None = None,
    since: datetime | None = None,
    workers: int = WORKERS,
) -> None:
    """`write_jsonl` on PostgreSQL (psycopg) with `workers` processes, one id range of
    `ranges` at a time each, inside `conn`'s transaction."""
    snapshot = str(conn.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one())
    raw = conn.connection.driver_connection
    assert raw is not None
    conninfo: dict[str, Any] = dict(raw.info.get_parameters())
    if raw.info.password:
        conninfo["password"] = raw.info.password
    job = _Job(conninfo, snapshot, names, policy, since, writer.hold)
    tally: Tally = Counter()
    first: str | None = None
    last: str | None = None
    context = multiprocessing.get_context("fork")
    with context.Pool(workers, initializer=_start, initargs=(job,)) as pool:
        pending: deque[Any] = deque()
        todo = iter(ranges)
        for ids in todo:
            pending.append(pool.apply_async(_chunk, (ids,)))
            if len(pending) >= 2 * workers:
                break
        while pending:
            got: _Chunk = pending.popleft().get()
            for ids in todo:  # keep the workers busy while this chunk is written
                pending.append(pool.apply_async(_chunk, (ids,)))
                break
            for split in SPLITS:
                head = got.heads[split]
                if writer.holding(split):
                    for line, media, agreement in head:
                        writer.write_line(split, line, media=media, agreement=agreement)
                    head = []
                writer.write_text(split, "".join(line for line, _, _ in head) + got.rests[split])
            for policy_labels in got.labels:
                stats.add_labels(*policy_labels)
            tally.update(got.tally)
            if got.first is not None and (first is None or got.first < first):
                first = got.first
            if got.last is not None and (last is None or got.last > last):
                last = got.last
    finish_copy_stats(stats, tally, first, last)
