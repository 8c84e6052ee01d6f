"""Drop-folder sources: JSON Lines files placed in a folder, each ingested exactly once.

```
inbox/referrals/              files arrive here (*.jsonl)
inbox/referrals/processing/   a file being ingested (claimed by one process)
inbox/referrals/done/         every line accepted
inbox/referrals/rejected/     some lines rejected; NAME.rejects says which and why
```

A file over `max_file_bytes` is moved to `rejected/` unread, its `.rejects` file saying
so; lines are read in bounded chunks, and a line over the ingest line limit is rejected
on its own.

Only `*.jsonl` files not modified for `settle_s` seconds are picked up, so a file still
being written is left alone: write `NAME.jsonl.part` (or anywhere else) and rename it
into the folder when complete. A file is claimed by an atomic rename into `processing/`
(only one process wins it) and locked while it is read. Its valid lines are committed in
one transaction together with a marker holding the file's SHA-256, so a crash at any
point loses nothing and ingests nothing twice: a file left in `processing/` by a dead
process is picked up again, and its marker says whether it was already stored.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from sqlmodel import Session

from modqueue.config import FolderSourceConfig
from modqueue.integrations.sources._common import SourceError, SourceReport
from modqueue.queue import (
    ItemIn,
    Rejection,
    ReviewQueue,
    SyncCursor,
    check_lines,
    ingest_batch,
    record_event,
)

__all__ = ["FolderSource", "marker_name"]

PROCESSING, DONE, REJECTED = "processing", "done", "rejected"
_SEP = "--"
_log = logging.getLogger("modqueue.sources.folder")


def marker_name(source: str, sha256: str) -> str:
    """The `SyncCursor` name marking a file (by content) as stored for `source`."""
    return f"folder:{source[:120]}:{sha256}"


def _unique(target: Path) -> Path:
    if not target.exists():
        return target
    stem = target.name.removesuffix(".jsonl")
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    for n in range(1, 10_000):
        candidate = target.with_name(f"{stem}.{stamp}-{n}.jsonl")
        if not candidate.exists():
            return candidate
    raise FileExistsError(target)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[io.BufferedReader | None]:
    """The file opened for reading under an exclusive `flock`, or None when another
    process holds it (or it is gone)."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        yield None
        return
    with handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield None
            return
        yield handle


class _TooLarge(Exception):
    """A file turned out longer than `max_file_bytes` while it was read."""


class _HashingReader:
    """Reads a file for `check_lines`, hashing what passes and refusing more than
    `limit` bytes (checked before reading, and again as it goes: files can grow)."""

    def __init__(self, handle: io.BufferedReader, limit: int) -> None:
        self._handle = handle
        self._limit = limit
        self._sha = hashlib.sha256()
        self.size = os.fstat(handle.fileno()).st_size
        self._oversized = self.size > limit

    def read(self, n: int = -1) -> bytes:
        if self._oversized:
            raise _TooLarge
        data = self._handle.read(n)
        self.size = max(self.size, self._handle.tell())
        if self._handle.tell() > self._limit:
            raise _TooLarge
        self._sha.update(data)
        return data

    def hexdigest(self) -> str:
        return self._sha.hexdigest()


def _write_rejects(target: Path, lines: list[str]) -> None:
    """Write `target.rejects` (one reason a line) atomically."""
    rejects = target.with_name(target.name + ".rejects")
    tmp = rejects.with_name(f".{rejects.name}.tmp")
    tmp.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    tmp.replace(rejects)


class FolderSource:
    """A configured drop folder; `pull(queue)` ingests every settled file.

    A relative `path` is taken from `base` (the configuration file's folder, or the
    working folder). `clock()` gives the time files' ages are measured against.
    """

    def __init__(
        self,
        name: str,
        config: FolderSourceConfig,
        *,
        base: Path | None = None,
        log: logging.Logger | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self.config = config
        path = config.path.expanduser()
        self.path = path if path.is_absolute() or base is None else base / path
        self.log = log or _log
        self._clock = clock

    def __repr__(self) -> str:
        return f"FolderSource(name={self.name!r}, path={str(self.path)!r})"

    def _folders(self) -> tuple[Path, Path, Path]:
        if not self.path.is_dir():
            raise SourceError(self.name, f"folder {self.path} does not exist")
        made = []
        for sub in (PROCESSING, DONE, REJECTED):
            folder = self.path / sub
            folder.mkdir(exist_ok=True)
            made.append(folder)
        return made[0], made[1], made[2]

    def settled_files(self) -> list[Path]:
        """Files in the folder ready to ingest: `*.jsonl`, not hidden, not modified for
        `settle_s` seconds; oldest name first."""
        now = self._clock()
        out = []
        for path in sorted(self.path.glob("*.jsonl")):
            if path.name.startswith("."):
                continue
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            if not path.is_file() or now - stat.st_mtime < self.config.settle_s:
                continue
            out.append(path)
        return out

    def pull(self, queue: ReviewQueue, *, stop: threading.Event | None = None) -> SourceReport:
        """Ingest every settled file (and any left in `processing/` by a dead process)."""
        processing, done, rejected = self._folders()
        report = SourceReport(self.name)
        claimed = sorted(processing.glob(f"*{_SEP}*.jsonl"))
        for path in self.settled_files():
            target = processing / f"{time.time_ns()}-{os.getpid()}{_SEP}{path.name}"
            try:
                path.rename(target)
            except FileNotFoundError:
                continue  # another process claimed it first
            claimed.append(target)
        for path in claimed:
            if stop is not None and stop.is_set():
                break
            self._process(queue, path, done, rejected, report)
        return report

    def _process(
        self, queue: ReviewQueue, path: Path, done: Path, rejected_dir: Path, report: SourceReport
    ) -> None:
        original = path.name.split(_SEP, 1)[1]
        limit = self.config.max_file_bytes
        with _locked(path) as handle:
            if handle is None:
                return  # another live process is on it
            if not path.exists():
                return  # finished by another process between listing and locking
            reader = _HashingReader(handle, limit)
            try:
                checked = list(check_lines(reader, guidelines=queue.guidelines, source=self.name))
            except _TooLarge:
                checked = None
            report.files += 1
            if checked is None:
                self._reject_file(path, original, rejected_dir, report, reader.size)
                return
            sha = reader.hexdigest()
            valid = [c.item for c in checked if c.item is not None]
            rejections = [c.rejection for c in checked if c.rejection is not None]
            counts = queue.run(lambda s: self._store(s, queue, original, sha, valid, rejections))
            if counts is not None:
                report.new += counts[0]
                report.merged += counts[1]
            report.rejected.extend(rejections)
            if rejections:
                target = _unique(rejected_dir / original)
                _write_rejects(target, [f"line {r.position}: {r.reason}" for r in rejections])
            else:
                target = _unique(done / original)
            path.rename(target)
        self.log.info(
            "source %s: %s: %d new, %d merged, %d rejected -> %s",
            self.name,
            original,
            counts[0] if counts else 0,
            counts[1] if counts else 0,
            len(rejections),
            target.parent.name,
            extra={"source": self.name, "file": original, "sha256": sha},
        )

    def _reject_file(
        self, path: Path, original: str, rejected_dir: Path, report: SourceReport, size: int
    ) -> None:
        """Move a file over `max_file_bytes` to `rejected/`, unread, with its reason."""
        limit = self.config.max_file_bytes
        reason = (
            f"file is over the {limit:,}-byte limit (max_file_bytes; {size:,} bytes or more); "
            "nothing ingested"
        )
        target = _unique(rejected_dir / original)
        _write_rejects(target, [reason])
        path.rename(target)
        report.rejected.append(Rejection(0, reason))
        self.log.warning(
            "source %s: %s: %s -> rejected",
            self.name,
            original,
            reason,
            extra={"source": self.name, "file": original},
        )

    def _store(
        self,
        session: Session,
        queue: ReviewQueue,
        original: str,
        sha: str,
        valid: list[ItemIn],
        rejections: list[Rejection],
    ) -> tuple[int, int] | None:
        marker = marker_name(self.name, sha)
        if session.get(SyncCursor, marker, with_for_update=True) is not None:
            return None  # stored before a crash, or the same content dropped again
        now = queue.clock()
        new, merged = ingest_batch(
            session,
            items=valid,
            guidelines=queue.guidelines,
            now=now,
            actor=f"folder:{self.name}",
            flaggers=queue.flaggers,
            floods=queue.floods,
        )
        session.add(SyncCursor(name=marker, value=original[:500], updated_at=now))
        record_event(
            session,
            actor=f"folder:{self.name}",
            event="file_ingested",
            at=now,
            detail={
                "source": self.name,
                "file": original,
                "sha256": sha,
                "new": new,
                "merged": merged,
                "rejected": [{"line": r.position, "reason": r.reason} for r in rejections],
            },
        )
        return new, merged
