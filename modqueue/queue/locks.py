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
import re
import threading
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Engine, text

__all__ = ["advisory_key", "flock_within", "try_exclusive"]

_MEMORY_LOCKS: dict[str, threading.Lock] = {}
_MEMORY_GUARD = threading.Lock()
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for `name` (PostgreSQL advisory locks take a bigint)."""
    digest = hashlib.blake2b(f"modqueue:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class _Wait:
    """One wait for a file lock, shared by the caller and the thread that blocks on it."""

    __slots__ = ("abandoned", "done", "fd", "got", "guard")

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.got = False  # the helper holds the lock, for the caller
        self.abandoned = False  # the caller gave up: the helper closes the file
        self.guard = threading.Lock()
        self.done = threading.Event()


def _block(wait: _Wait) -> None:
    try:
        fcntl.flock(wait.fd, fcntl.LOCK_EX)
        got = True
    except OSError:
        got = False
    with wait.guard:
        if wait.abandoned:  # the caller gave up meanwhile: let the next writer in
            os.close(wait.fd)
            return
        wait.got = got
        wait.done.set()


def flock_within(path: str | Path, timeout: float) -> int | None:
    """Open `path` and take an exclusive `flock` on it, waiting at most `timeout`
    seconds; the file descriptor that holds the lock (close it to release), or None.

    `fcntl.flock` has no time-out of its own. A free lock is taken at once; otherwise a
    helper thread waits in the kernel's queue (woken as soon as the holder lets go, so
    writers take turns as with a plain blocking `flock`) while the caller waits for it
    until the deadline. A caller that gives up leaves the helper to release the lock the
    moment it gets it: a stuck holder turns into an answer instead of a hang.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return fd
    except BlockingIOError:
        pass
    except BaseException:
        os.close(fd)
        raise
    if timeout <= 0:
        os.close(fd)
        return None
    wait = _Wait(fd)
    threading.Thread(target=_block, args=(wait,), name="modqueue-flock", daemon=True).start()
    wait.done.wait(timeout)
    with wait.guard:
        if wait.got:
            return fd
        if not wait.done.is_set():
            wait.abandoned = True  # the helper closes the file when its wait ends
            return None
    os.close(fd)  # the helper's flock failed
    return None


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
