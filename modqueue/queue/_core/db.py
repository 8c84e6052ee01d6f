"""Engines for SQLite and PostgreSQL, and schema migration through Alembic."""

from __future__ import annotations

import fcntl
import functools
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection, StaticPool
from sqlmodel import Session

from modqueue._exceptions import DatabaseBusy
from modqueue.queue.locks import flock_within
from modqueue.settings import normalise_database_url

__all__ = [
    "PING_AFTER_IDLE_SECONDS",
    "WRITE_ENGINE",
    "alembic_config",
    "is_postgres",
    "is_sqlite",
    "make_engine",
    "migrate",
    "read_connection",
    "read_session",
    "schema_is_current",
]

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"
PG_MIGRATION_LOCK = 7_244_310_001  # pg_advisory_xact_lock key for `migrate`
READ_ONLY = "modqueue_read_only"  # execution option: a read-only transaction
_QUERY_ONLY = "modqueue_query_only"  # connection info: PRAGMA query_only is on
PING_AFTER_IDLE_SECONDS = 10.0
"""A PostgreSQL connection idle in the pool longer than this is pinged before use."""
_IDLE_SINCE = "modqueue_idle_since"  # pool entry info: when the connection was checked in
WRITE_ENGINE = "modqueue_write_engine"
"""`session.info` key of a read session: the engine its deferred writes go to (the
primary, when reads go to a replica)."""


class _FairConnection(sqlite3.Connection):
    """A SQLite connection whose writers take turns through a lock file, not SQLite's
    busy handler.

    SQLite's busy handler sleeps and retries (up to 100 ms at a time), which is unfair
    under contention (one writer can starve). Each write transaction first takes an
    exclusive `flock` on a lock file beside the database (`flock_within`: waiters queue
    in the kernel and are woken in turn), then
    `BEGIN IMMEDIATE`; the lock is released once the transaction has committed or rolled
    back. A writer that waits longer than the busy time-out (the `timeout` given to
    `sqlite3.connect`) gets `DatabaseBusy`. Read-only transactions (`read_session`) take
    no lock: in WAL mode a reader never blocks a writer, nor a writer a reader.
    """

    lock_paths: dict[str, str] = {}

    def __init__(self, database: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(database, *args, **kwargs)
        self._database = str(Path(str(database)).expanduser().resolve())
        self._lock_path = self.lock_paths.get(self._database)
        self._lock_timeout = float(kwargs.get("timeout", args[0] if args else 5.0))
        self._lock_fd: int | None = None  # open while this connection holds the lock

    def acquire_write_lock(self) -> None:
        if self._lock_path is None or self._lock_fd is not None:
            return
        fd = flock_within(self._lock_path, self._lock_timeout)
        if fd is None:
            raise DatabaseBusy(
                f"another process holds the database {self._database}: its write lock "
                f"{self._lock_path} stayed taken for {self._lock_timeout:g} s "
                "(MODQUEUE_SQLITE_BUSY_TIMEOUT_MS); try again once that process has finished"
            )
        self._lock_fd = fd

    def _release(self) -> None:
        if self._lock_fd is not None:
            fd, self._lock_fd = self._lock_fd, None
            try:
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._release()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._release()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._release()


_SQLITE_CACHE_KIB = 65_536
"""The page cache of each SQLite connection, in KiB (SQLite's default is 2,000: 2 MB).
Ingest writes into a dozen indexes of `item` and the candidate index
(`fingerprint_band`, random keys) at random places; once they outgrow 2 MB every batch
reads and writes their pages through the operating system again (measured at 100,000
items: 7 % of the ingest's CPU with fingerprinting, `bench/RESULTS_clusters.md`). The
cache grows only as pages are used: a small database never takes 64 MiB."""


def is_sqlite(engine: Engine) -> bool:
    """True when `engine` talks to SQLite."""
    return engine.dialect.name == "sqlite"


def is_postgres(engine: Engine) -> bool:
    """True when `engine` talks to PostgreSQL."""
    return engine.dialect.name == "postgresql"


def make_engine(database_url: str, *, busy_timeout_ms: int = 30_000, **kwargs: Any) -> Engine:
    """Create an engine for `database_url` with modqueue's connection settings.

    SQLite runs in WAL mode with a busy timeout, foreign keys on, a page cache of up to
    `_SQLITE_CACHE_KIB` per connection (`PRAGMA cache_size`), and every write
    transaction opened with `BEGIN IMMEDIATE` (after the writers' lock, see
    `_FairConnection`) so that two writers never deadlock on a lock upgrade; a writer that
    waits longer than `busy_timeout_ms` for the lock gets `DatabaseBusy`. Transactions of
    `read_session` and `read_connection` open with a plain `BEGIN`, take no lock and may
    not write.
    """
    url = normalise_database_url(database_url)
    if url.startswith("sqlite"):
        memory = url in ("sqlite://", "sqlite:///:memory:")
        connect_args: dict[str, Any] = {
            "check_same_thread": False,
            "timeout": busy_timeout_ms / 1000,
        }
        if memory:
            kwargs.setdefault("poolclass", StaticPool)
        else:
            path = Path(url.removeprefix("sqlite:///")).expanduser().resolve()
            path.parent.mkdir(parents=True, exist_ok=True)
            connect_args["factory"] = _FairConnection
            connect_args["uri"] = False
            _FairConnection.lock_paths[str(path)] = f"{path}.writelock"
        engine = create_engine(url, connect_args=connect_args, **kwargs)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
            cursor = dbapi_conn.cursor()
            if not memory:
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA cache_size=-{_SQLITE_CACHE_KIB}")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            read_only = bool(conn.get_execution_options().get(READ_ONLY))
            info = conn.connection.info
            if info.get(_QUERY_ONLY, False) != read_only:
                # A read-only transaction that tries to write fails at once instead of
                # writing without the writers' lock.
                conn.exec_driver_sql(f"PRAGMA query_only={int(read_only)}")
                info[_QUERY_ONLY] = read_only
            if read_only:
                conn.exec_driver_sql("BEGIN")
                return
            dbapi_conn = conn.connection.dbapi_connection
            if isinstance(dbapi_conn, _FairConnection):
                dbapi_conn.acquire_write_lock()
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    kwargs.setdefault("pool_size", 5)
    kwargs.setdefault("max_overflow", 10)
    engine = create_engine(url, **kwargs)
    if not kwargs.get("pool_pre_ping"):
        _ping_when_idle(engine)
    return engine


def _ping_when_idle(engine: Engine) -> None:
    """Ping a pooled PostgreSQL connection before use only when it sat idle for more
    than `PING_AFTER_IDLE_SECONDS` (a server restart or a dropped idle connection);
    `pool_pre_ping` pings before every transaction, a round trip on each claim and
    decision. A connection that breaks between two busy transactions fails its next
    statement instead: the pool is invalidated and `ReviewQueue` runs the transaction
    again on a new connection (it had not committed)."""

    @event.listens_for(engine, "checkin")
    def _checked_in(dbapi_conn: Any, record: ConnectionPoolEntry) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(
        dbapi_conn: Any, record: ConnectionPoolEntry, proxy: PoolProxiedConnection
    ) -> None:
        idle_since = record.info.pop(_IDLE_SINCE, None)
        if idle_since is None or time.monotonic() - idle_since <= PING_AFTER_IDLE_SECONDS:
            return  # new, or in use a moment ago
        try:
            engine.dialect.do_ping(dbapi_conn)
        except engine.dialect.loaded_dbapi.Error as exc:
            # The pool drops this connection and checks out (connects) another.
            raise DisconnectionError("connection lost while idle in the pool") from exc


def _read_options(engine: Engine) -> dict[str, Any]:
    """Execution options of a read-only transaction on `engine` (see `read_session`)."""
    if engine.dialect.name == "postgresql":
        return {
            READ_ONLY: True,
            "isolation_level": "REPEATABLE READ",
            "postgresql_readonly": True,
        }
    return {READ_ONLY: True}


@contextmanager
def read_session(engine: Engine, *, write_engine: Engine | None = None) -> Iterator[Session]:
    """A session in one read-only transaction, for work that only reads (stats,
    dashboards, lists, exports, audit verification).

    On SQLite it opens with a plain `BEGIN` and takes no writers' lock, so it runs beside
    a writer under WAL and sees one consistent snapshot; a write in it fails
    (`PRAGMA query_only`). On PostgreSQL it is `REPEATABLE READ READ ONLY`: every
    statement sees the snapshot of the first (a dashboard's or a report's figures agree
    with each other while decisions commit), a write fails, and a read-only transaction
    at that level never fails for serialization. Refusals that `authorize` audits are
    written after it ends, in a write transaction of their own, on `write_engine` when
    given (the primary, when `engine` is a read replica), else on `engine`.

    ```python
    with read_session(queue.engine) as s:
        figures = queue_stats(s, now=utcnow())
    ```
    """
    with Session(engine, expire_on_commit=False) as session, session.begin():
        if write_engine is not None:
            session.info[WRITE_ENGINE] = write_engine
        session.connection(execution_options=_read_options(engine))
        yield session


@contextmanager
def read_connection(engine: Engine) -> Iterator[Connection]:
    """A Core connection whose transactions are read-only, like `read_session`'s."""
    with engine.connect() as conn:
        conn.execution_options(**_read_options(engine))
        try:
            yield conn
        finally:
            conn.rollback()


def _migrations_config() -> Config:
    """An Alembic configuration of the migrations shipped with this code."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def alembic_config(engine: Engine) -> Config:
    """An Alembic configuration that migrates `engine`."""
    cfg = _migrations_config()
    cfg.attributes["engine"] = engine
    return cfg


@functools.cache
def _migration_heads() -> frozenset[str]:
    """The heads of the migrations shipped with this code. Reading them parses every
    migration file (tens of milliseconds), and every queue that opens asks: once per
    process is enough, since the files are the installed code's own."""
    return frozenset(ScriptDirectory.from_config(_migrations_config()).get_heads())


def schema_is_current(engine: Engine) -> bool:
    """True when the database is at every migration head."""
    with read_connection(engine) as conn:  # every command asks: never wait for writers
        current = set(MigrationContext.configure(conn).get_current_heads())
    return current == _migration_heads()


def migrate(engine: Engine) -> None:
    """Create or upgrade the schema to every head; safe to run from several processes."""
    if schema_is_current(engine):
        return
    command.upgrade(alembic_config(engine), "heads")
