"""Fixtures shared by the whole suite: a fresh database on each backend, items, a clock.

Every test that takes `database_url` runs twice: on SQLite (a file in tmp_path, copied
from a file migrated once per session) and on PostgreSQL (a fresh database cloned from a
migrated template, made ahead and dropped behind the tests by threads, with
`synchronous_commit` off: see `NO_COMMIT_FLUSH_WAIT`). `scripts/test`
starts PostgreSQL and sets `MODQUEUE_TEST_PG_URL`; `MODQUEUE_TEST_BACKENDS=sqlite` limits a
local run to SQLite.

Tests run with the product defaults, including blind second review of 10% of decisions
(which items are sampled is fixed by their identity: of `make_item(n)`, n = 8, 13 and 17
are among the first twenty). A test that needs another share sets it and says why.
"""

from __future__ import annotations

import itertools
import os
import queue
import shutil
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import typer.main
import typer.testing
from sqlalchemy import Connection
from sqlalchemy.engine import make_url

from modqueue.queue import ReviewQueue, make_engine, migrate

BACKENDS = [
    b.strip() for b in os.environ.get("MODQUEUE_TEST_BACKENDS", "sqlite,postgresql").split(",")
]
_counter = itertools.count()


_COMMANDS: dict[int, tuple[typer.Typer, Any]] = {}


def _command_of(app: typer.Typer) -> Any:
    """`typer.main.get_command(app)`, built once per app. `CliRunner.invoke` builds the
    whole command tree of the app again on every call (about 0.1 s for modqueue's); a
    process running the real CLI builds it once, as the tests now do too."""
    known = _COMMANDS.get(id(app))
    if known is None or known[0] is not app:
        known = _COMMANDS[id(app)] = (app, typer.main.get_command(app))
    return known[1]


typer.testing._get_command = _command_of  # type: ignore[attr-defined,assignment]
NO_COMMIT_FLUSH_WAIT = "synchronous_commit = off"
"""Set on every test database: a commit is visible to every other session at once, as
always; only the flush of its WAL to disk is not waited for. That flush protects against a
crash of the server, which no test causes; waiting for it cost a test more than its work
on a machine whose disk is busy."""


def _pg_conninfo(url: str) -> tuple[str, str]:
    parsed = make_url(url)
    admin = parsed.set(drivername="postgresql", database="postgres")
    return admin.render_as_string(hide_password=False), parsed.database or "modqueue_test"


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """Name of a migrated template database that per-test databases are cloned from."""
    url = os.environ.get("MODQUEUE_TEST_PG_URL")
    if not url:
        raise RuntimeError(
            "MODQUEUE_TEST_PG_URL is not set: run the suite through scripts/test, which starts "
            "PostgreSQL (or set MODQUEUE_TEST_BACKENDS=sqlite for a SQLite-only run)"
        )
    conninfo, base = _pg_conninfo(url)
    # One template per pytest-xdist worker (`scripts/test --fast` runs two): a shared one
    # would be dropped under the other worker's feet.
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    template = f"{base}_tmpl_{worker}" if worker else f"{base}_tmpl"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{template}"')
        conn.execute(f'ALTER DATABASE "{template}" SET {NO_COMMIT_FLUSH_WAIT}')
    engine = make_engine(str(make_url(url).set(database=template).render_as_string(False)))
    migrate(engine)
    engine.dispose()
    try:
        yield template
    finally:
        # The clones go first: a template cannot be dropped while one is being made.
        _pg_databases.close()
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')


def _clone_pg_database(template: str) -> tuple[str, str]:
    url = os.environ["MODQUEUE_TEST_PG_URL"]
    conninfo, base = _pg_conninfo(url)
    name = f"{base}_{os.getpid()}_{next(_counter)}"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        # Settings of a database are not copied from its template.
        conn.execute(f'ALTER DATABASE "{name}" SET {NO_COMMIT_FLUSH_WAIT}')
    return make_url(url).set(database=name).render_as_string(hide_password=False), name


def drop_pg_database(name: str) -> None:
    """Drop a database now (terminating its connections)."""
    conninfo, _ = _pg_conninfo(os.environ["MODQUEUE_TEST_PG_URL"])
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class _PgDatabases:
    """Per-test PostgreSQL databases, cloned from the template and dropped off the test's
    path.

    `CREATE DATABASE ... TEMPLATE` and `DROP DATABASE` each wait for the disk (a fraction
    of a second to several seconds on a busy machine), not for this process's CPU. A
    thread keeps up to `READY` clones of the template made in advance, and another drops
    the databases that tests are done with (at most `BACKLOG` waiting, so they never pile
    up on disk); a test takes a clone that is as fresh as one made for it (the template
    does not change during the session). `close()` (end of the session) stops both, drops
    what is left and re-raises the first error either thread met, so a failed clone or
    drop still fails the run.
    """

    READY = 2
    BACKLOG = 8

    def __init__(self) -> None:
        self._template = ""
        self._ready: queue.Queue[tuple[str, str] | BaseException] = queue.Queue(self.READY)
        self._to_drop: queue.Queue[str | None] = queue.Queue(self.BACKLOG)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._error: BaseException | None = None

    def take(self, template: str) -> tuple[str, str]:
        """A fresh clone of `template`: `(url, name)`."""
        if self._template != template:
            self.close()
            self._template = template
            self._stop.clear()
            self._threads = [
                threading.Thread(target=self._clone, name="clone-test-databases", daemon=True),
                threading.Thread(target=self._drop, name="drop-test-databases", daemon=True),
            ]
            for thread in self._threads:
                thread.start()
        ready = self._ready.get()
        if isinstance(ready, BaseException):
            raise RuntimeError(f"cloning the template {template} failed") from ready
        return ready

    def release(self, name: str) -> None:
        """Hand a database over to be dropped (waits while `BACKLOG` are waiting)."""
        if self._threads:
            self._to_drop.put(name)
        else:
            drop_pg_database(name)

    def _clone(self) -> None:
        while not self._stop.is_set():
            try:
                made: tuple[str, str] | BaseException = _clone_pg_database(self._template)
            except BaseException as exc:
                made = exc
            while True:
                try:
                    self._ready.put(made, timeout=0.2)
                    break
                except queue.Full:
                    if self._stop.is_set():
                        if not isinstance(made, BaseException):
                            self._drop_now(made[1])
                        return

    def _drop(self) -> None:
        while (name := self._to_drop.get()) is not None:
            self._drop_now(name)

    def _drop_now(self, name: str) -> None:
        try:
            drop_pg_database(name)
        except BaseException as exc:
            if self._error is None:
                self._error = exc

    def close(self) -> None:
        if not self._threads:
            return
        clone_thread, drop_thread = self._threads
        self._stop.set()
        clone_thread.join()
        while True:  # the clones nobody took
            try:
                left = self._ready.get_nowait()
            except queue.Empty:
                break
            if not isinstance(left, BaseException):
                self._drop_now(left[1])
        self._to_drop.put(None)
        drop_thread.join()
        self._threads = []
        self._template = ""
        if self._error is not None:
            error, self._error = self._error, None
            raise RuntimeError("dropping a per-test PostgreSQL database failed") from error


_pg_databases = _PgDatabases()


def fresh_pg_database(template: str) -> tuple[str, str]:
    """A fresh clone of the template: `(url, name)`; give `name` back to
    `release_pg_database` when done."""
    return _pg_databases.take(template)


def release_pg_database(name: str) -> None:
    """Drop a database from `fresh_pg_database` in the background."""
    _pg_databases.release(name)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once per session (per pytest-xdist worker); each test gets a
    copy instead of running every migration again."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    engine.dispose()
    # Everything in the main file, nothing left in the write-ahead log, so a copy of that
    # one file is the whole database.
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    wal = path.with_name(f"{path.name}-wal")
    if wal.exists() and wal.stat().st_size:
        raise RuntimeError(f"{wal}: the migrated template's write-ahead log is not empty")
    return path


def fresh_sqlite_database(template: Path, path: Path) -> str:
    """Copy the migrated template to `path`: the URL of a fresh, migrated, empty database."""
    shutil.copyfile(template, path)
    return f"sqlite:///{path}"


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated, empty database on each backend."""
    if request.param == "sqlite":
        yield fresh_sqlite_database(
            request.getfixturevalue("sqlite_template"), tmp_path / "modqueue.db"
        )
        return
    template = request.getfixturevalue("pg_template")
    url, name = fresh_pg_database(template)
    yield url
    release_pg_database(name)


@pytest.fixture
def second_database_url(
    database_url: str, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[str]:
    """A second fresh, migrated, empty database on the backend of `database_url`."""
    if make_url(database_url).get_backend_name() == "sqlite":
        yield fresh_sqlite_database(
            request.getfixturevalue("sqlite_template"), tmp_path / "second.db"
        )
        return
    url, name = fresh_pg_database(request.getfixturevalue("pg_template"))
    yield url
    release_pg_database(name)


class Clock:
    """A controllable clock for deadlines and leases."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 24, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> datetime:
        self.now += timedelta(**kwargs)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def review_queue(database_url: str, clock: Clock) -> Iterator[ReviewQueue]:
    q = ReviewQueue(database_url, clock=clock)
    yield q
    q.close()


def explain_compiled(
    conn: Connection, compiled: Any, values: dict[str, Any], verb: str
) -> list[Any]:
    """The rows of `verb` (`EXPLAIN`, `EXPLAIN QUERY PLAN`) over a `Prepared` statement
    compiled for `conn`'s dialect (`Prepared._compiled`), bound as `Prepared` binds it:
    on PostgreSQL `$n` placeholders on a raw cursor, on SQLite positional `?`."""
    sql = f"{verb} {compiled.sql}"
    if not compiled.raw:
        params = tuple(values[n] for n in compiled.names) if compiled.positional else values
        return list(conn.exec_driver_sql(sql, params).all())
    driver: Any = conn.connection.driver_connection
    with psycopg.RawCursor(driver) as cursor:
        cursor.execute(sql, [values[n] for n in compiled.names])
        return cursor.fetchall()


def make_item(n: int = 1, **overrides: Any) -> dict[str, Any]:
    """A valid item in the ingest format."""
    item: dict[str, Any] = {
        "source": "platform-reports",
        "external_id": f"post-{n}",
        "text": f"synthetic flagged post number {n}",
        "policy": "people-smuggling",
        "signals": [{"name": "smuggling-clf-v2", "score": 0.5}],
        "report_count": 1,
        "views": 100,
        "flagged_at": "2026-11-24T08:00:00Z",
    }
    item.update(overrides)
    return item


# Fixtures that start a Label Studio server: `scripts/test --fast` (`-m "not slow"`) does
# not prepare one, so every test using them must be marked slow.
LABEL_STUDIO_FIXTURES = frozenset({"ls_server"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Refuse a test that starts Label Studio without `@pytest.mark.slow`."""
    unmarked = [
        item.nodeid
        for item in items
        if LABEL_STUDIO_FIXTURES & set(getattr(item, "fixturenames", ()))
        and item.get_closest_marker("slow") is None
    ]
    if unmarked:
        raise pytest.UsageError(
            "these tests start Label Studio but are not marked @pytest.mark.slow "
            f"(scripts/test --fast does not prepare it): {', '.join(unmarked[:5])}"
        )
