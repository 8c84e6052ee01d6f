"""Readers beside writers, and writers that give up: the SQLite write lock done right.

On SQLite, writers queue through an `flock` on `<database>.writelock` and then `BEGIN
IMMEDIATE`; read-only work (`ReviewQueue.read`, `read_session`, `read_connection`) opens
a plain `BEGIN` and takes no lock, so under WAL it runs beside a writer's open
transaction. A writer that waits longer than `MODQUEUE_SQLITE_BUSY_TIMEOUT_MS` for the
lock gets `DatabaseBusy`, naming the database. Nothing here measures time: waits are on
events, pipes and joins with generous time-outs.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.exc import OperationalError
from sqlmodel import col
from typer.testing import CliRunner, Result

from modqueue import DatabaseBusy
from modqueue.cli import app
from modqueue.integrations.actions import list_actions
from modqueue.integrations.export import export_dataset
from modqueue.queue import Item, ReviewQueue, reviewer_queues, verify_chain
from modqueue.queue.locks import flock_within
from modqueue.settings import load_settings
from tests.conftest import make_item

GENEROUS = 120.0  # seconds: only ever reached when something hangs

# Holds a write transaction (writers' lock and BEGIN IMMEDIATE) until stdin closes.
_HOLDER = """
import sys
from modqueue.queue import ReviewQueue
with ReviewQueue(sys.argv[1], auto_migrate=False) as q, q.session() as s:
    s.connection()  # begins: the writers' lock, then BEGIN IMMEDIATE
    print("holding", flush=True)
    sys.stdin.read()
print("released", flush=True)
"""


def _filled(url: str, tmp_path: Path) -> ReviewQueue:
    """A queue with pending items, two decided ones (default second-review share) and
    one export done."""
    q = ReviewQueue(url)
    q.enqueue(make_item(n) for n in range(12))
    for _ in range(2):
        claim = q.claim_next("alice")
        assert claim is not None
        q.decide(claim, "no-violation")
    # The first export stores the export key (a write); later exports only read.
    export_dataset(q.engine, out=tmp_path / "first-export", now=q.clock())
    return q


def _reads(q: ReviewQueue, out: Path) -> dict[str, Any]:
    """Every read-only service, as the CLI, the TUI and the scheduler call them."""
    now = q.clock()
    return {
        "stats": q.stats(),
        "dashboard": q.dashboard("lead"),
        "queues": q.read(lambda s: reviewer_queues(s, now=now)),
        "verify": q.read(verify_chain),
        "actions": q.read(lambda s: list_actions(s)),
        "item": q.get_item(1),
        "export": export_dataset(q.engine, out=out, now=now),
    }


@contextmanager
def _writer_holding(q: ReviewQueue) -> Iterator[threading.Thread]:
    """A writer in another thread with an open write transaction (it has changed an item
    and holds SQLite's writers' lock) until the block ends."""
    holding, release = threading.Event(), threading.Event()
    failed: list[BaseException] = []

    def write() -> None:
        try:
            with q.session() as s:
                s.execute(update(Item).where(col(Item.id) == 3).values(views=999))
                holding.set()
                release.wait(GENEROUS)
        except BaseException as exc:  # reported by the test, not lost in the thread
            failed.append(exc)
            holding.set()

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    assert holding.wait(GENEROUS) and not failed, failed
    try:
        yield writer
    finally:
        release.set()
        writer.join(GENEROUS)
    assert not failed, failed


def _in_thread(work: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    done: list[Any] = []

    def run() -> None:
        try:
            done.append(work())
        except BaseException as exc:
            done.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, done


def test_readers_finish_while_a_writer_holds_its_transaction(
    database_url: str, tmp_path: Path
) -> None:
    with _filled(database_url, tmp_path) as q:
        with _writer_holding(q) as writer:
            reader, done = _in_thread(lambda: _reads(q, tmp_path / "export"))
            reader.join(GENEROUS)
            # The readers finished while the writer still holds its open transaction.
            assert not reader.is_alive() and writer.is_alive()
        result = done[0]
        assert not isinstance(result, BaseException), result
        assert result["stats"]["pending"] + result["stats"]["claimed"] >= 10
        assert result["verify"].ok
        assert result["item"].id == 1
        assert result["item"].views == 100  # the writer's change is not committed yet
        assert (tmp_path / "export" / "README.md").is_file()
        assert q.get_item(3).views == 999  # and is once it has committed


def test_a_read_session_may_not_write_on_sqlite(tmp_path: Path) -> None:
    with ReviewQueue(f"sqlite:///{tmp_path}/q.db") as q:
        q.enqueue([make_item(1)])
        with pytest.raises(OperationalError, match="readonly"):
            q.read(lambda s: s.execute(update(Item).values(views=5)))
        assert q.get_item(1).views == 100
        # The same connection writes again in an ordinary transaction.
        q.run(lambda s: s.execute(update(Item).values(views=6)))
        assert q.get_item(1).views == 6


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/modqueue.db"
    with ReviewQueue(url) as q:
        q.enqueue(make_item(n) for n in range(5))
    return url


@contextmanager
def _other_process_holding(url: str) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the database's write lock until the block ends."""
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdin is not None and holder.stdout is not None
    try:
        assert holder.stdout.readline().strip() == "holding"
        yield holder
    finally:
        holder.stdin.close()
        holder.wait(GENEROUS)


def _cli(*args: str, timeout_ms: int = 200) -> Result:
    """The command line in this process (the holder is another one)."""
    return CliRunner().invoke(
        app, list(args), env={"MODQUEUE_SQLITE_BUSY_TIMEOUT_MS": str(timeout_ms)}
    )


def test_a_waiting_writer_gives_up_naming_the_database(sqlite_url: str) -> None:
    path = Path(sqlite_url.removeprefix("sqlite:///")).resolve()
    settings = load_settings(database_url=sqlite_url).model_copy(
        update={"sqlite_busy_timeout_ms": 200}
    )
    with _other_process_holding(sqlite_url) as holder:
        with ReviewQueue(sqlite_url, settings=settings, auto_migrate=False) as q:
            with pytest.raises(DatabaseBusy, match="another process holds the database") as err:
                q.claim_next("alice")
            assert str(path) in str(err.value)
            assert "MODQUEUE_SQLITE_BUSY_TIMEOUT_MS" in str(err.value)
            # Readers are not held up meanwhile.
            assert q.stats()["pending"] == 5
        assert holder.poll() is None  # the holder still holds it
    # Once the holder is gone, the same queue writes again.
    with ReviewQueue(sqlite_url, settings=settings, auto_migrate=False) as q:
        claim = q.claim_next("alice")
        assert claim is not None


def test_the_cli_says_which_database_is_busy_and_reads_meanwhile(
    sqlite_url: str, tmp_path: Path
) -> None:
    path = Path(sqlite_url.removeprefix("sqlite:///")).resolve()
    with _other_process_holding(sqlite_url):
        busy = _cli("claim", "--reviewer", "alice", "--db", sqlite_url)
        assert busy.exit_code == 1, busy.output
        assert busy.stderr.startswith(f"error: another process holds the database {path}")
        assert busy.exception is None or isinstance(busy.exception, SystemExit)
        stats = _cli("stats", "--json", "--db", sqlite_url)
        assert stats.exit_code == 0, stats.output
        assert json.loads(stats.stdout)["pending"] == 5
        verify = _cli("audit", "verify", "--db", sqlite_url)
        assert verify.exit_code == 0 and "audit chain ok" in verify.stdout, verify.stderr
        listed = _cli("actions", "list", "--db", sqlite_url)
        assert listed.exit_code == 0 and "no actions" in listed.stdout, listed.stderr


def test_flock_within_waits_for_a_release_and_gives_up_at_its_deadline(tmp_path: Path) -> None:
    lock = tmp_path / "x.writelock"
    held = flock_within(lock, 0)
    assert held is not None
    try:
        assert flock_within(lock, 0) is None  # taken: no wait at all
        assert flock_within(lock, 0.05) is None  # taken: gives up at the deadline
        got, done = _in_thread(lambda: flock_within(lock, GENEROUS))
        fcntl.flock(held, fcntl.LOCK_UN)  # the waiter (queued in the kernel) gets it now
        got.join(GENEROUS)
        assert len(done) == 1 and isinstance(done[0], int)
        assert flock_within(lock, 0) is None  # the waiter holds it
        os.close(done[0])
        again = flock_within(lock, 0)  # closing its file released it
        assert again is not None
        os.close(again)
    finally:
        os.close(held)


def test_a_writer_that_gave_up_does_not_keep_the_lock(sqlite_url: str) -> None:
    """The helper left waiting by a writer that timed out lets go once it gets the lock,
    so the next writer is not blocked by a waiter that is gone."""
    settings = load_settings(database_url=sqlite_url).model_copy(
        update={"sqlite_busy_timeout_ms": 100}
    )
    with ReviewQueue(sqlite_url, settings=settings, auto_migrate=False) as q:
        with _other_process_holding(sqlite_url):
            for _ in range(3):
                with pytest.raises(DatabaseBusy):
                    q.claim_next("alice")
        # The holder is gone; three abandoned waiters took and dropped the lock in turn.
        patient = q.settings.model_copy(update={"sqlite_busy_timeout_ms": 60_000})
        with ReviewQueue(sqlite_url, settings=patient, auto_migrate=False) as other:
            claim = other.claim_next("bob")
            assert claim is not None
            other.decide(claim, "no-violation")
