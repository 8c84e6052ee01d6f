"""Incremental verification from a stored checkpoint: `verify_since` and
`modqueue audit verify --since`."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from modqueue import NotFound
from modqueue.cli import app
from modqueue.queue import (
    ChainReport,
    ReviewQueue,
    latest_checkpoint,
    verify_chain,
    verify_since,
    write_checkpoint,
)
from tests.conftest import make_item
from tests.support.audit import tamper


def _work(q: ReviewQueue, first: int, count: int) -> None:
    """`count` items ingested, claimed and decided: 3 events each."""
    q.enqueue([make_item(n) for n in range(first, first + count)])
    for _ in range(count):
        claim = q.claim_next("alice")
        assert claim is not None
        q.decide(claim, "no-violation")


def _checkpoint(q: ReviewQueue) -> tuple[int, ChainReport]:
    report = q.read(verify_chain)
    assert report.ok
    number = q.run(lambda s: write_checkpoint(s, report=report, now=q.clock()))
    assert number is not None
    return number, report


def _since(q: ReviewQueue, checkpoint: int) -> ChainReport:
    return q.read(lambda s: verify_since(s, checkpoint=checkpoint))


def _max_id(q: ReviewQueue) -> int:
    return int(q.read(lambda s: s.scalar(text("SELECT max(id) FROM audit_event"))))


def test_incremental_verify_reads_only_what_came_after(review_queue: ReviewQueue) -> None:
    q = review_queue
    _work(q, 1, 4)
    number, first = _checkpoint(q)
    assert number == 1 and q.read(latest_checkpoint) == 1
    report = _since(q, number)
    assert report.ok and report.checked == 0 and report.heads == first.heads
    _work(q, 10, 3)
    report = _since(q, number)
    full = q.read(verify_chain)
    assert report.ok and report.checked == full.checked - first.checked
    assert report.heads == full.heads and report.head_id == full.head_id
    # The next checkpoint starts where this one ended.
    second = q.run(lambda s: write_checkpoint(s, report=report, now=q.clock()))
    assert second == 2
    assert _since(q, 2).checked == 0


def test_an_edit_after_the_checkpoint_is_caught(
    review_queue: ReviewQueue, database_url: str
) -> None:
    q = review_queue
    _work(q, 1, 2)
    number, _ = _checkpoint(q)
    _work(q, 10, 2)
    target = _max_id(q) - 2
    tamper(
        database_url,
        lambda c: c.execute(text(f"UPDATE audit_event SET actor = 'mallory' WHERE id = {target}")),
    )
    report = _since(q, number)
    assert not report.ok and report.broken_id == target
    assert report.problem is not None and "edited" in report.problem


def test_a_cut_tail_is_caught(review_queue: ReviewQueue, database_url: str) -> None:
    q = review_queue
    _work(q, 1, 3)
    number, first = _checkpoint(q)
    last = _max_id(q)
    assert first.head_id == last
    # The attacker deletes the last events; what is left is a valid, shorter chain.
    tamper(
        database_url, lambda c: c.execute(text(f"DELETE FROM audit_event WHERE id > {last - 2}"))
    )
    assert q.read(verify_chain).ok
    report = _since(q, number)
    assert not report.ok and report.broken_id == last
    assert report.problem is not None and "cut" in report.problem


def test_a_checkpoint_that_no_longer_matches_is_refused(
    review_queue: ReviewQueue, database_url: str
) -> None:
    q = review_queue
    _work(q, 1, 2)
    number, first = _checkpoint(q)
    assert first.head_id is not None
    # The checkpointed event itself was rewritten (hash and all).
    tamper(
        database_url,
        lambda c: c.execute(
            text(f"UPDATE audit_event SET hash = :h WHERE id = {first.head_id}"), {"h": "f" * 64}
        ),
    )
    report = _since(q, number)
    assert not report.ok and report.broken_id == first.head_id
    assert report.problem is not None and "no longer matches checkpoint" in report.problem
    with pytest.raises(NotFound, match="checkpoint 7 does not exist"):
        _since(q, 7)


def test_only_a_passed_verification_is_stored(review_queue: ReviewQueue) -> None:
    q = review_queue
    assert q.run(lambda s: write_checkpoint(s, report=q.read(verify_chain), now=q.clock())) is None
    failed = ChainReport(ok=False, checked=0, head_id=None, head_hash=None, problem="x")
    with pytest.raises(ValueError, match="passed"):
        q.run(lambda s: write_checkpoint(s, report=failed, now=q.clock()))


def test_cli_verify_since(review_queue: ReviewQueue, database_url: str) -> None:
    q = review_queue
    _work(q, 1, 2)
    runner = CliRunner()
    env = {
        "MODQUEUE_DATABASE_URL": database_url,
        "LABEL_STUDIO_URL": "",
        "LABEL_STUDIO_API_KEY": "",
    }
    out = runner.invoke(app, ["audit", "verify", "--since", "last"], env=env)
    assert out.exit_code != 0 and "no audit checkpoint yet" in out.stderr
    out = runner.invoke(app, ["audit", "verify"], env=env)
    assert out.exit_code == 0, out.stdout + out.stderr
    assert "6 events" in out.output and "checkpoint 1 written" in out.output
    _work(q, 10, 1)
    out = runner.invoke(app, ["audit", "verify", "--since", "1", "--json"], env=env)
    assert out.exit_code == 0, out.stdout + out.stderr
    doc = json.loads(out.output)
    assert doc["ok"] and doc["checked"] == 3 and doc["since_checkpoint"] == 1
    assert doc["checkpoint"] == 2
    out = runner.invoke(app, ["audit", "checkpoint"], env=env)
    assert out.exit_code == 0 and "0 events after checkpoint 2" in out.output
    out = runner.invoke(app, ["audit", "verify", "--since", "zero"], env=env)
    assert out.exit_code != 0 and "--since 'zero'" in out.stderr
    last = _max_id(q)
    tamper(database_url, lambda c: c.execute(text(f"DELETE FROM audit_event WHERE id = {last}")))
    out = runner.invoke(app, ["audit", "verify", "--since", "last"], env=env)
    assert out.exit_code == 2 and "was cut" in out.stderr
