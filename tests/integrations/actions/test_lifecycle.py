"""Undo, reversal, retry and the `modqueue actions` commands, against the platform server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from modqueue import InvalidState, NotFound
from modqueue.cli import app
from modqueue.config import JobConfig, ModqueueConfig
from modqueue.integrations.actions import dispatch_due, retry_actions, reverse_decision
from modqueue.queue import AuditEvent, OutboundAction, ReviewQueue
from modqueue.scheduler import JobContext, default_jobs
from tests.conftest import Clock
from tests.integrations.actions.conftest import SECRETS, decide_items, platform_config
from tests.integrations.actions.platform_server import PlatformServer

ENV = {"ALPHA_SECRET": SECRETS["alpha"]}


def _row(queue: ReviewQueue, action_id: int) -> OutboundAction:
    return queue.run(
        lambda s: s.scalars(select(OutboundAction).where(OutboundAction.id == action_id)).one()  # type: ignore[arg-type]
    )


def _all(queue: ReviewQueue) -> list[OutboundAction]:
    return queue.run(lambda s: list(s.scalars(select(OutboundAction).order_by(OutboundAction.id))))  # type: ignore[arg-type]


def test_undo_before_sending_cancels_and_nothing_is_sent(
    review_queue: ReviewQueue, server: PlatformServer
) -> None:
    ids = decide_items(review_queue, ["done-1"])
    decision_id = _row(review_queue, ids["done-1"]).decision_id
    assert decision_id is not None
    review_queue.undo(decision_id, "rev-1")
    report = dispatch_due(review_queue, {"alpha": platform_config(server, "alpha")}, env=ENV)
    assert report.claimed == 0
    assert _row(review_queue, ids["done-1"]).status == "cancelled"
    assert server.state.requests == {}


def test_reversal_restores_what_was_done(
    review_queue: ReviewQueue, clock: Clock, server: PlatformServer
) -> None:
    platforms = {"alpha": platform_config(server, "alpha")}
    ids = decide_items(review_queue, ["done-1"])
    dispatch_due(review_queue, platforms, env=ENV)
    original = _row(review_queue, ids["done-1"])
    assert original.status == "done"

    item_id = original.item_id
    queued = review_queue.run(
        lambda s: reverse_decision(
            s, item_id=item_id, reviewer="senior-1", note="appeal upheld", now=clock()
        )
    )
    assert len(queued) == 1
    reversal = queued[0]
    assert reversal.action == "restore_and_unban"
    assert reversal.reverses_id == original.id
    assert reversal.status == "pending"
    assert reversal.idempotency_key != original.idempotency_key
    # calling it again queues nothing new
    again = review_queue.run(
        lambda s: reverse_decision(s, item_id=item_id, reviewer="senior-1", note="", now=clock())
    )
    assert again == []

    dispatch_due(review_queue, platforms, env=ENV)
    assert _row(review_queue, reversal.id).status == "done"
    payload = server.state.payloads[reversal.idempotency_key]
    assert payload["action"] == "restore_and_unban"
    assert payload["external_id"] == "done-1"
    assert "appeal upheld" not in json.dumps(payload)
    events = review_queue.run(
        lambda s: [e.event for e in s.scalars(select(AuditEvent).order_by(AuditEvent.id))]  # type: ignore[arg-type]
    )
    assert events[-2:] == ["action_queued", "action_done"]

    with pytest.raises(NotFound, match="item 999 does not exist"):
        review_queue.run(
            lambda s: reverse_decision(s, item_id=999, reviewer="senior-1", note="", now=clock())
        )


def test_reversal_of_unsent_action_cancels_it(review_queue: ReviewQueue, clock: Clock) -> None:
    ids = decide_items(review_queue, ["done-1"])
    item_id = _row(review_queue, ids["done-1"]).item_id
    queued = review_queue.run(
        lambda s: reverse_decision(s, item_id=item_id, reviewer="senior-1", note="", now=clock())
    )
    assert queued == []
    row = _row(review_queue, ids["done-1"])
    assert row.status == "cancelled"
    assert row.last_error == "cancelled: decision reversed before sending"


def test_reversal_waits_for_an_original_still_being_retried(
    review_queue: ReviewQueue, clock: Clock, server: PlatformServer
) -> None:
    platforms = {"alpha": platform_config(server, "alpha")}
    ids = decide_items(review_queue, ["flaky-1"])
    dispatch_due(review_queue, platforms, env=ENV)  # 500: retried later
    original = _row(review_queue, ids["flaky-1"])
    assert (original.status, original.attempts) == ("pending", 1)
    queued = review_queue.run(
        lambda s: reverse_decision(
            s, item_id=original.item_id, reviewer="senior-1", note="", now=clock()
        )
    )
    assert [q.action for q in queued] == ["restore_and_unban"]
    report = dispatch_due(review_queue, platforms, env=ENV)
    assert report.claimed == 0  # the reversal waits while the original is pending
    for _ in range(6):  # the platform answers 500 twice to each key (flaky-)
        clock.advance(hours=1)
        dispatch_due(review_queue, platforms, env=ENV)
    rows = {r.id: r for r in _all(review_queue)}
    assert rows[original.id].status == "done"
    assert rows[queued[0].id].status == "done"
    assert [server.state.payloads[k]["action"] for k in server.state.effects] == [
        "remove_and_ban",
        "restore_and_unban",
    ]


def test_retry_failed_keeps_the_key(
    review_queue: ReviewQueue, clock: Clock, server: PlatformServer
) -> None:
    platforms = {"alpha": platform_config(server, "alpha")}
    ids = decide_items(review_queue, ["bad-1", "done-1"])
    dispatch_due(review_queue, platforms, env=ENV)
    failed = _row(review_queue, ids["bad-1"])
    assert (failed.status, failed.attempts) == ("failed", 1)

    with pytest.raises(
        InvalidState, match=r"only failed actions can be retried: action \d+ is done"
    ):
        review_queue.run(
            lambda s: retry_actions(s, action_ids=[ids["done-1"]], actor="lead", now=clock())
        )
    with pytest.raises(NotFound, match="action"):
        review_queue.run(lambda s: retry_actions(s, action_ids=[12345], actor="lead", now=clock()))

    queued = review_queue.run(
        lambda s: retry_actions(s, action_ids=None, actor="lead", now=clock())
    )
    assert queued == [failed.id]
    row = _row(review_queue, ids["bad-1"])
    assert (row.status, row.attempts, row.idempotency_key) == ("pending", 0, failed.idempotency_key)
    dispatch_due(review_queue, platforms, env=ENV)
    assert server.state.requests[failed.idempotency_key] == 2
    assert _row(review_queue, ids["bad-1"]).status == "failed"
    events = review_queue.run(
        lambda s: [
            (e.actor, e.event)
            for e in s.scalars(select(AuditEvent).where(AuditEvent.event.like("action_%")))  # type: ignore[attr-defined]
        ]
    )
    assert ("lead", "action_retry_requested") in events


def _write_config(tmp_path: Path, server: PlatformServer) -> Path:
    path = tmp_path / "modqueue.toml"
    path.write_text(
        f"""
[platforms.alpha]
action_url = "{server.action_url("alpha")}"
secret_env = "ALPHA_SECRET"
timeout_s = 2
max_attempts = 3
concurrency = 4
status_url = "{server.status_url("alpha")}"
""",
        encoding="utf-8",
    )
    return path


def test_cli_dispatch_list_retry(
    database_url: str, tmp_path: Path, server: PlatformServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ReviewQueue(database_url) as queue:
        ids = decide_items(queue, ["done-1", "bad-1", "pending-done-1"])
    config = _write_config(tmp_path, server)
    monkeypatch.setenv("ALPHA_SECRET", SECRETS["alpha"])
    runner = CliRunner()

    out = runner.invoke(
        app,
        ["actions", "dispatch", "--once", "--db", database_url, "--config", str(config), "--json"],
    )
    assert out.exit_code == 0, out.output
    report = json.loads(out.stdout)
    assert (report["claimed"], report["done"], report["failed"], report["follow_up"]) == (
        3,
        1,
        1,
        1,
    )
    assert SECRETS["alpha"] not in out.output

    out = runner.invoke(app, ["actions", "list", "--db", database_url, "--json"])
    assert out.exit_code == 0, out.output
    listed = {a["external_id"]: a for a in json.loads(out.stdout)}
    assert {k: v["status"] for k, v in listed.items()} == {
        "done-1": "done",
        "bad-1": "failed",
        "pending-done-1": "sent",
    }
    assert listed["pending-done-1"]["reference"].startswith("ref-")

    out = runner.invoke(app, ["actions", "list", "--db", database_url, "--status", "failed"])
    assert out.exit_code == 0, out.output
    assert "bad-1" in out.stdout and "done-1" not in out.stdout
    assert "HTTP 400 from platform 'alpha'" in out.stdout

    out = runner.invoke(app, ["actions", "retry", str(ids["bad-1"]), "--db", database_url])
    assert out.exit_code == 0, out.output
    assert f"queued again: 1 action(s) ({ids['bad-1']})" in out.stdout

    out = runner.invoke(app, ["actions", "retry", "--db", database_url])
    assert out.exit_code == 1
    assert "give either an action ID or --failed" in out.output

    out = runner.invoke(app, ["actions", "dispatch", "--once", "--db", database_url])
    assert out.exit_code == 1
    assert "no [platforms.NAME] table" in out.output


def test_scheduler_jobs_deliver_and_follow_up(
    review_queue: ReviewQueue,
    clock: Clock,
    server: PlatformServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ids = decide_items(review_queue, ["pending-done-1"])
    config = ModqueueConfig(platforms={"alpha": platform_config(server, "alpha")})
    monkeypatch.setenv("ALPHA_SECRET", SECRETS["alpha"])
    jobs = {job.name: job for job in default_jobs(config)}
    ctx = JobContext(queue=review_queue, config=config)

    delivered = jobs["actions"].run(ctx)
    assert (delivered["claimed"], delivered["follow_up"]) == (1, 1)
    assert _row(review_queue, ids["pending-done-1"]).status == "sent"
    for _ in range(2):  # the platform says pending once more, then done
        clock.advance(hours=1)
        jobs["action-status"].run(ctx)
    assert _row(review_queue, ids["pending-done-1"]).status == "done"

    disabled = ModqueueConfig(
        platforms=config.platforms, jobs={"actions": JobConfig(enabled=False)}
    )
    assert {job.name for job in default_jobs(disabled)} >= {"action-status"}
    assert "actions" not in {job.name for job in default_jobs(disabled)}
    no_platforms = {job.name for job in default_jobs(ModqueueConfig())}
    assert not no_platforms & {"actions", "action-status"}
