"""Fixtures shared by the whole suite: a fresh database on each backend, items, a clock.

Every test that takes `database_url` runs twice: on SQLite (a file in tmp_path) and on
PostgreSQL (a fresh database cloned from a migrated template). `scripts/test` starts
PostgreSQL and sets `MODQUEUE_TEST_PG_URL`; `MODQUEUE_TEST_BACKENDS=sqlite` limits a
local run to SQLite.

Tests run with the product defaults, including blind second review of 10% of decisions
(which items are sampled is fixed by their identity: of `make_item(n)`, n = 8, 13 and 17
are among the first twenty). A test that needs another share sets it and says why.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from sqlalchemy import Connection
from sqlalchemy.engine import make_url

from modqueue.queue import ReviewQueue, make_engine, migrate

BACKENDS = [
    b.strip() for b in os.environ.get("MODQUEUE_TEST_BACKENDS", "sqlite,postgresql").split(",")
]
_counter = itertools.count()


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
    engine = make_engine(str(make_url(url).set(database=template).render_as_string(False)))
    migrate(engine)
    engine.dispose()
    yield template
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')


def fresh_pg_database(template: str) -> tuple[str, str]:
    """Clone the template into a new database: `(url, name)`."""
    url = os.environ["MODQUEUE_TEST_PG_URL"]
    conninfo, base = _pg_conninfo(url)
    name = f"{base}_{os.getpid()}_{next(_counter)}"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return make_url(url).set(database=name).render_as_string(hide_password=False), name


def drop_pg_database(name: str) -> None:
    conninfo, _ = _pg_conninfo(os.environ["MODQUEUE_TEST_PG_URL"])
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    """A fresh, migrated, empty database on each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/modqueue.db"
        engine = make_engine(url)
        migrate(engine)
        engine.dispose()
        yield url
        return
    template = request.getfixturevalue("pg_template")
    url, name = fresh_pg_database(template)
    yield url
    drop_pg_database(name)


@pytest.fixture
def second_database_url(
    database_url: str, request: pytest.FixtureRequest, tmp_path: Any
) -> Iterator[str]:
    """A second fresh, migrated, empty database on the backend of `database_url`."""
    if make_url(database_url).get_backend_name() == "sqlite":
        url = f"sqlite:///{tmp_path}/second.db"
        engine = make_engine(url)
        migrate(engine)
        engine.dispose()
        yield url
        return
    url, name = fresh_pg_database(request.getfixturevalue("pg_template"))
    yield url
    drop_pg_database(name)


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
