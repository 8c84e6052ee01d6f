"""Engines for SQLite and PostgreSQL, and schema migration through Alembic."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.pool import StaticPool

from modqueue.settings import normalise_database_url

__all__ = [
    "alembic_config",
    "is_postgres",
    "is_sqlite",
    "make_engine",
    "migrate",
    "schema_is_current",
]

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
PG_MIGRATION_LOCK = 7_244_310_001  # pg_advisory_xact_lock key for `migrate`


def is_sqlite(engine: Engine) -> bool:
    """True when `engine` talks to SQLite."""
    return engine.dialect.name == "sqlite"


def is_postgres(engine: Engine) -> bool:
    """True when `engine` talks to PostgreSQL."""
    return engine.dialect.name == "postgresql"


def make_engine(database_url: str, *, busy_timeout_ms: int = 30_000, **kwargs: Any) -> Engine:
    """Create an engine for `database_url` with modqueue's connection settings.

    SQLite runs in WAL mode with a busy timeout, foreign keys on, and every transaction
    opened with `BEGIN IMMEDIATE` so that two writers never deadlock on a lock upgrade.
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
            path = url.removeprefix("sqlite:///")
            Path(path).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
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
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 5)
    kwargs.setdefault("max_overflow", 10)
    return create_engine(url, **kwargs)


def alembic_config(engine: Engine) -> Config:
    """An Alembic configuration that migrates `engine`."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["engine"] = engine
    return cfg


def schema_is_current(engine: Engine) -> bool:
    """True when the database is at every migration head."""
    script = ScriptDirectory.from_config(alembic_config(engine))
    with engine.connect() as conn:
        current = set(MigrationContext.configure(conn).get_current_heads())
        conn.rollback()
    return current == set(script.get_heads())


def migrate(engine: Engine) -> None:
    """Create or upgrade the schema to every head; safe to run from several processes."""
    if schema_is_current(engine):
        return
    command.upgrade(alembic_config(engine), "heads")
