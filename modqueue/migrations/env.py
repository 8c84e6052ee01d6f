"""Alembic environment: migrations run on the engine modqueue passes in."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine, text
from sqlmodel import SQLModel

import modqueue.models  # noqa: F401  (registers every table on the metadata)

PG_MIGRATION_LOCK = 7_244_310_001

config = context.config
engine = config.attributes.get("engine")
if not isinstance(engine, Engine):
    raise RuntimeError("run migrations through `modqueue init`, which passes the engine")

with engine.connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # SQLite's batch mode rebuilds a table (copy, drop, rename): with foreign keys
        # enforced, dropping `item` fails as soon as any row refers to it. The pragma only
        # takes effect outside a transaction, so it is set on the driver's connection first;
        # `foreign_key_check` afterwards proves the rebuilt tables still hold together.
        connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # Several processes may start at once: one migrates, the others wait, then
            # find the schema current (Alembic reads the version inside this transaction).
            connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_MIGRATION_LOCK})
        context.run_migrations()
        if sqlite:
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(f"migration left rows whose foreign keys dangle: {broken[:5]}")
    if sqlite:
        # Not back to the pool with foreign keys off: the next connection is a new one,
        # which the engine opens with them on.
        connection.invalidate()
