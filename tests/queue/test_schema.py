"""The migrations build exactly the schema the models describe, on both backends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import modqueue.models  # noqa: F401
from modqueue.queue import make_engine, migrate, schema_is_current


def test_migrations_match_models(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        assert schema_is_current(engine)
        with engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
        # Expression indexes (priority DESC) cannot be reflected on every backend.
        diffs = [
            d
            for d in diffs
            if not (d[0] in ("add_index", "remove_index") and "pending" in d[1].name)
        ]
        assert diffs == []
    finally:
        engine.dispose()


def test_migrate_is_idempotent(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        migrate(engine)
        migrate(engine)
        assert schema_is_current(engine)
    finally:
        engine.dispose()
