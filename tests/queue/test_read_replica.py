"""`MODQUEUE_READ_DATABASE_URL`: read-only work goes to the read database, writes (and
the audit of refusals raised while reading) to the primary, on both backends.

The "replica" here is a second database with different content, so every answer shows
which database it came from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from modqueue import ConfigError, PermissionDenied
from modqueue.integrations.export import export_dataset
from modqueue.queue import ReviewQueue, add_reviewer, make_engine, verify_chain
from modqueue.settings import load_settings
from tests.conftest import Clock, make_item


@pytest.fixture
def replica_url(second_database_url: str) -> str:
    """A second migrated database on the same backend as `database_url`."""
    return second_database_url


def _decide_all(q: ReviewQueue, count: int) -> None:
    for _ in range(count):
        claim = q.claim_next("alice")
        assert claim is not None
        q.decide(claim, "no-violation")


def _count(url: str, sql: str) -> Any:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql)).scalar()
    finally:
        engine.dispose()


def test_reads_go_to_the_read_database_and_writes_do_not(
    database_url: str, replica_url: str, clock: Clock, tmp_path: Path
) -> None:
    with ReviewQueue(replica_url, clock=clock) as rq:  # the replica's own content
        rq.enqueue([make_item(n) for n in range(1, 6)])
        _decide_all(rq, 2)
    settings = load_settings(database_url=database_url, read_database_url=replica_url)
    with ReviewQueue(settings=settings, clock=clock) as q:
        assert q.read_engine is not q.engine
        q.enqueue([make_item(n) for n in range(50, 52)])  # a write: the primary
        assert _count(database_url, "SELECT count(*) FROM item") == 2
        assert _count(replica_url, "SELECT count(*) FROM item") == 5
        stats = q.stats()  # reads: the replica
        assert stats["decided"] == 2 and stats["pending"] == 3
        board = q.dashboard("lead")
        assert board is not None
        report = q.read(verify_chain)
        assert report.ok and report.checked == 5 + 2 * 2
        export = export_dataset(
            q.engine, out=tmp_path / "out", now=clock(), read_engine=q.read_engine
        )
        assert export.records == 2
        lines = [
            json.loads(line)
            for split in ("train", "validation", "test")
            if (tmp_path / "out" / f"{split}.jsonl").exists()
            for line in (tmp_path / "out" / f"{split}.jsonl").read_text().splitlines()
        ]
        assert len(lines) == 2
        # Claiming and deciding are writes: the primary's items, not the replica's.
        claim = q.claim_next("alice")
        assert claim is not None and claim.item_id in (1, 2)
        assert q.run(
            lambda s: s.scalar(
                text("SELECT external_id FROM item WHERE id = :i"), {"i": claim.item_id}
            )
        ) in ("post-50", "post-51")
    assert _count(replica_url, "SELECT count(*) FROM item WHERE status = 'claimed'") == 0


def test_a_refusal_raised_while_reading_is_audited_on_the_primary(
    database_url: str, replica_url: str, clock: Clock
) -> None:
    with ReviewQueue(replica_url, clock=clock) as rq:  # reviewers registered: enforced
        rq.run(lambda s: add_reviewer(s, actor=None, name="root", role="admin", now=clock()))
    settings = load_settings(database_url=database_url, read_database_url=replica_url)
    sql = "SELECT count(*) FROM audit_event WHERE event = 'access_denied'"
    with ReviewQueue(settings=settings, clock=clock) as q, pytest.raises(PermissionDenied):
        q.dashboard("nobody")
    assert _count(database_url, sql) == 1
    assert _count(replica_url, sql) == 0


def test_without_a_read_url_everything_uses_one_database(database_url: str) -> None:
    with ReviewQueue(database_url) as q:
        assert q.read_engine is q.engine


@pytest.mark.parametrize("bad", ["mysql://db/x", "no-scheme"])
def test_a_bad_read_url_fails_fast(bad: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODQUEUE_READ_DATABASE_URL", bad)
    with pytest.raises(ConfigError, match="MODQUEUE_READ_DATABASE_URL"):
        load_settings()
