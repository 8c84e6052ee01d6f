"""Migration `0020_scale_audit_partitions`: on PostgreSQL `audit_event` becomes
partitioned by month, on an empty and on a filled database, keeping every event, id,
hash and chain; on SQLite only the checkpoint table is added. Downgrade too."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from alembic import command
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from modqueue.queue import (
    ReviewQueue,
    audit_partitions,
    ensure_audit_partitions,
    ingest_values,
    make_engine,
    verify_chain,
)
from modqueue.queue._core.db import alembic_config
from tests.conftest import BACKENDS, Clock, make_item

REVISION = "0020_scale_audit_partitions"
BEFORE = "0019_hotpath_counters"  # the revision this one follows
_counter = itertools.count()


@pytest.fixture(params=BACKENDS)
def bare_url(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    """An empty database on each backend, with no schema at all."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/bare.db"
        return
    url = make_url(os.environ["MODQUEUE_TEST_PG_URL"])
    admin = url.set(drivername="postgresql", database="postgres").render_as_string(False)
    name = f"{url.database}_bare_{os.getpid()}_{next(_counter)}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield url.set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _events(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                text(
                    "SELECT id, chain, at, actor, event, prev_hash, hash "
                    "FROM audit_event ORDER BY id"
                )
            )
        ]


def _kind(engine: Engine) -> str | None:
    if engine.dialect.name != "postgresql":
        return None
    with engine.connect() as conn:
        return str(
            conn.execute(
                text("SELECT relkind FROM pg_class WHERE oid = 'audit_event'::regclass")
            ).scalar()
        )


def _fill(url: str, clock: Clock) -> None:
    """Work through the product's services over three months (one event a month apart).

    Today's services write today's schema, so this runs at the head revision; the caller
    then downgrades to BEFORE (the trail survives a downgrade: the test checks that too)."""
    with ReviewQueue(url, clock=clock, auto_migrate=False) as q:
        for month in range(3):
            ingest_values(
                q,
                [make_item(n) for n in range(10 * month + 1, 10 * month + 7)],
                fingerprint=False,  # this test is about the audit trail
            )
            for n in range(4):
                claim = q.claim_next("alice")
                assert claim is not None
                if n % 2:
                    q.release(claim, "back to the queue")
                else:
                    q.decide(claim, "no-violation")
            clock.advance(days=31)


def _work_after(url: str) -> None:
    with ReviewQueue(url) as q:
        q.enqueue([make_item(n) for n in range(100, 103)])
        claim = q.claim_next("bob")
        assert claim is not None
        q.decide(claim, "no-violation")
        assert q.read(verify_chain).ok


@pytest.mark.parametrize("filled", [False, True], ids=["empty", "filled"])
def test_partition_migration_keeps_the_trail(bare_url: str, filled: bool) -> None:
    engine = make_engine(bare_url)
    cfg = alembic_config(engine)
    try:
        if filled:
            command.upgrade(cfg, "heads")
            _fill(bare_url, Clock(datetime(2026, 8, 20, 9, 0, tzinfo=UTC)))
            command.downgrade(cfg, BEFORE)
        else:
            command.upgrade(cfg, BEFORE)
        assert _kind(engine) in (None, "r")
        before = _events(engine)
        assert (len(before) >= 3 * (6 + 8)) if filled else before == []
        command.upgrade(cfg, "heads")
        assert _events(engine) == before
        with ReviewQueue(bare_url) as q:
            report = q.read(verify_chain)
            assert report.ok and report.checked == len(before)
            parts = q.read(audit_partitions)
        if engine.dialect.name == "postgresql":
            assert _kind(engine) == "p"
            names = {p.name for p in parts}
            assert "audit_event_default" in names
            month = datetime.now(UTC)
            for _ in range(4):  # this month and three ahead
                assert f"audit_event_{month:%Y_%m}" in names
                month = (month.replace(day=1) + timedelta(days=32)).replace(day=1)
            if filled:
                assert {
                    "audit_event_2026_08",
                    "audit_event_2026_09",
                    "audit_event_2026_10",
                } <= names
        else:
            assert parts == []
        _work_after(bare_url)  # new ids follow the old ones; the chain goes on
        after = _events(engine)
        assert after[: len(before)] == before and len(after) >= len(before) + 5
        assert all(a[0] < b[0] for a, b in itertools.pairwise(after))
        command.downgrade(cfg, BEFORE)
        assert _kind(engine) in (None, "r")
        assert _events(engine) == after
        command.upgrade(cfg, "heads")
        assert _events(engine) == after
        _work_after(bare_url)
    finally:
        engine.dispose()


def test_a_month_without_partition_lands_in_default_then_moves(database_url: str) -> None:
    far = Clock(datetime(2031, 5, 2, 12, 0, tzinfo=UTC))
    with ReviewQueue(database_url, clock=far) as q:
        q.enqueue([make_item(1), make_item(2)])  # no partition for May 2031: no failure
        claim = q.claim_next("alice")
        assert claim is not None
        q.decide(claim, "no-violation")
        made = q.run(lambda s: ensure_audit_partitions(s, months_ahead=1))
        if q.engine.dialect.name != "postgresql":
            assert made == 0 and q.read(audit_partitions) == []
            return
        with q.session() as s:
            in_default = s.scalar(text("SELECT count(*) FROM audit_event_default"))
            assert in_default == 4
            assert s.scalar(text("SELECT modqueue_audit_partition('2031-05-01')")) is True
            assert s.scalar(text("SELECT count(*) FROM audit_event_default")) == 0
            assert s.scalar(text("SELECT count(*) FROM audit_event_2031_05")) == 4
        assert q.read(verify_chain).ok
        assert made == 0  # this month's and next month's partitions came with the migration
        q.enqueue([make_item(3)])  # and the new partition takes the next events
        with q.session() as s:
            assert s.scalar(text("SELECT count(*) FROM audit_event_2031_05")) == 5
