"""Named, non-blocking locks so that several processes never do the same work at once,
and `flock_within`, the bounded wait for a file lock that SQLite writers queue through.

`try_exclusive(engine, name)` is a context manager yielding True when this process holds
the lock `name` for the block, False when someone else does (skip the work then).

- PostgreSQL: `pg_try_advisory_xact_lock` in a transaction on a connection of its own,
  so the lock dies with the transaction, the connection or the process (even `kill -9`).
- SQLite file: an exclusive `flock` on a file in `<database>.locks/`, released by the
  kernel when the process dies.
- In-memory SQLite: a lock inside this process.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import random
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Engine, text

__all__ = ["advisory_key", "flock_within", "try_exclusive"]

_MEMORY_LOCKS: dict[str, threading.Lock] = {}
_MEMORY_GUARD = threading.Lock()
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
# Polling a held flock: the first retry comes after about 0.2 ms, then the interval doubles
# up to 2 ms. A SQLite write transaction takes about 1 ms, so a waiter looks again within a
# transaction or two of the lock coming free: no waiter sleeps long while others get in
# (SQLite's own busy handler sleeps up to 100 ms, which is what made it unfair).
_FIRST_POLL_S = 0.0002
_MAX_POLL_S = 0.002


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for `name` (PostgreSQL advisory locks take a bigint)."""
    digest = hashlib.blake2b(f"modqueue:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def flock_within(fd: int, timeout: float) -> bool:
    """Take an exclusive `flock` on `fd`, waiting at most `timeout` seconds; whether it
    was taken.

    `fcntl.flock` has no time-out of its own, so this polls with `LOCK_EX | LOCK_NB`
    (short, jittered intervals, see `_MAX_POLL_S`) until the deadline: a holder that is
    stuck turns into an answer instead of a hang.
    """
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        pass
    deadline = time.monotonic() + max(timeout, 0.0)
    interval = _FIRST_POLL_S
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(left, interval * random.uniform(0.5, 1.0)))
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            interval = min(interval * 2, _MAX_POLL_S)


def _sqlite_path(engine: Engine) -> Path | None:
    database = engine.url.database
    if not database or database == ":memory:":
        return None
    return Path(database).expanduser().resolve()


@contextlib.contextmanager
def _pg_lock(engine: Engine, name: str) -> Iterator[bool]:
    with engine.connect() as conn:
        try:
            got = bool(
                conn.execute(
                    text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": advisory_key(name)}
                ).scalar()
            )
            yield got
        finally:
            conn.rollback()


@contextlib.contextmanager
def _file_lock(path: Path, name: str) -> Iterator[bool]:
    folder = path.with_name(path.name + ".locks")
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.blake2b(name.encode(), digest_size=6).hexdigest()
    lock_file = folder / f"{_SAFE.sub('_', name)[:60]}-{digest}.lock"
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _memory_lock(name: str) -> Iterator[bool]:
    with _MEMORY_GUARD:
        lock = _MEMORY_LOCKS.setdefault(name, threading.Lock())
    if not lock.acquire(blocking=False):
        yield False
        return
    try:
        yield True
    finally:
        lock.release()


@contextlib.contextmanager
def try_exclusive(engine: Engine, name: str) -> Iterator[bool]:
    """Hold the lock `name` for the block if nobody else does; yields whether it is held.

    ```python
    with try_exclusive(queue.engine, "job:deadlines") as mine:
        if mine:
            ...  # nobody else runs this now
    ```
    """
    if engine.dialect.name == "postgresql":
        with _pg_lock(engine, name) as got:
            yield got
        return
    path = _sqlite_path(engine)
    if path is None:
        with _memory_lock(name) as got:
            yield got
        return
    with _file_lock(path, name) as got:
        yield got
