"""The migrations build exactly the schema the models describe, on both backends."""

from __future__ import annotations

import re
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import modqueue.models  # noqa: F401
from modqueue.queue import make_engine, migrate, schema_is_current

PARTITION = re.compile(r"^audit_event_(\d{4}_\d{2}|default)$")


def _audit_partition(diff: Any) -> bool:
    obj = diff[1]
    table = getattr(obj, "table", obj)
    return diff[0] in ("remove_table", "remove_index") and bool(
        PARTITION.match(str(getattr(table, "name", "")))
    )


def test_migrations_match_models(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        assert schema_is_current(engine)
        with engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
        # Expression indexes (priority DESC, the handling-time bucket) cannot be reflected
        # on every backend; the monthly partitions of audit_event (PostgreSQL) are the
        # database's, not models.
        expression_index = ("pending", "ix_decision_handling")
        diffs = [
            d
            for d in diffs
            if not (
                d[0] in ("add_index", "remove_index")
                and any(name in d[1].name for name in expression_index)
            )
            and not _audit_partition(d)
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


def test_sqlite_connections_keep_a_64_mib_page_cache(tmp_path: Any) -> None:
    # Ingest's indexes outgrow SQLite's default 2 MB cache within a few tens of
    # thousands of items (bench/RESULTS_clusters.md); every connection asks for 64 MiB.
    for url in (f"sqlite:///{tmp_path / 'cache.db'}", "sqlite://"):
        engine = make_engine(url)
        try:
            with engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA cache_size").scalar_one() == -65_536
        finally:
            engine.dispose()
