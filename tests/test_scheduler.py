"""The scheduler: job registry, locks, failure isolation, deadlines, serve and config check."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import col
from typer.testing import CliRunner

from modqueue._exceptions import IntegrationError
from modqueue.cli import app
from modqueue.config import ModqueueConfig, load_config
from modqueue.queue import TRIAGE, AuditEvent, Item, ReviewQueue, senior_queue
from modqueue.queue.locks import try_exclusive
from modqueue.scheduler import JobContext, JobSpec, Scheduler, default_jobs, run_job, run_once
from tests.conftest import Clock, make_item


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_default_jobs_and_overrides(tmp_path: Path) -> None:
    (tmp_path / "inbox").mkdir()
    cfg = load_config(
        write(
            tmp_path / "modqueue.toml",
            """
[sources.platform-reports]
kind = "http"
url = "http://127.0.0.1:8701/flags"
token_env = "PLATFORM_REPORTS_TOKEN"
every = "30s"

[sources.referrals]
kind = "folder"
path = "inbox"
every = "1m"

[jobs.leases]
every = "10s"

[jobs.deadlines]
enabled = false

[deadlines]
near = 0.5
boost = 10
""",
        )
    )
    jobs = {j.name: j for j in default_jobs(cfg)}
    assert set(jobs) >= {"leases", "source:platform-reports", "source:referrals"}
    assert "deadlines" not in jobs
    assert jobs["leases"].every == 10.0
    assert jobs["source:platform-reports"].every == 30.0
    assert jobs["source:referrals"].every == 60.0
    assert cfg.deadlines.near == 0.5 and cfg.deadlines.boost == 10.0


def test_a_failing_job_is_logged_and_the_others_run(
    review_queue: ReviewQueue, caplog: pytest.LogCaptureFixture
) -> None:
    ran: list[str] = []

    def boom(ctx: JobContext) -> None:
        raise RuntimeError("disk on fire")

    def bad_source(ctx: JobContext) -> None:
        raise IntegrationError("source x: HTTP 500")

    jobs = [
        JobSpec("boom", 1.0, boom),
        JobSpec("bad", 1.0, bad_source),
        JobSpec("fine", 1.0, lambda ctx: len(ran) + 3),
    ]
    with caplog.at_level(logging.INFO, logger="modqueue"):
        results = run_once(jobs, JobContext(review_queue, ModqueueConfig()))
    assert [(r.name, r.ok) for r in results] == [("boom", False), ("bad", False), ("fine", True)]
    assert results[0].error == "RuntimeError: disk on fire"
    assert results[2].value == 3
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [getattr(r, "job", None) for r in errors] == ["boom", "bad"]
    assert errors[0].exc_info is not None and errors[1].exc_info is None


def test_a_job_running_elsewhere_is_skipped(review_queue: ReviewQueue) -> None:
    ran: list[int] = []
    job = JobSpec("leases", 1.0, lambda ctx: ran.append(1))
    ctx = JobContext(review_queue, ModqueueConfig())
    with try_exclusive(review_queue.engine, "job:leases") as mine:
        assert mine
        result = run_job(job, ctx)
    assert result.skipped and result.ok and ran == []
    assert run_job(job, ctx).skipped is False and ran == [1]


def test_scheduler_runs_jobs_on_their_interval_until_stopped(review_queue: ReviewQueue) -> None:
    runs: list[float] = []
    enough = threading.Event()

    def tick(ctx: JobContext) -> None:
        runs.append(time.monotonic())
        if len(runs) >= 3:
            enough.set()

    ctx = JobContext(review_queue, ModqueueConfig())
    scheduler = Scheduler([JobSpec("tick", 0.05, tick)], ctx)
    scheduler.start()
    try:
        assert enough.wait(30)
    finally:
        scheduler.stop()
    assert ctx.stop.is_set()
    count = len(runs)
    time.sleep(0.2)
    assert len(runs) == count


def events(queue: ReviewQueue, item_id: int) -> list[str]:
    with queue.session() as s:
        return list(
            s.scalars(
                select(col(AuditEvent.event))
                .where(col(AuditEvent.item_id) == item_id)
                .order_by(col(AuditEvent.id))
            )
        )


def test_deadlines_mark_near_then_breach_escalate_and_raise(
    review_queue: ReviewQueue, clock: Clock
) -> None:
    # people-smuggling: 4 h SLA, doxxing: 2 h, hate: 24 h; all flagged at 08:00, now 09:00.
    review_queue.enqueue(
        [
            make_item(1),
            make_item(2, policy="hate"),
            make_item(3, policy="doxxing"),
            make_item(4, policy=None, text="no rule matches this"),
        ]
    )
    ids: dict[str, int] = {}
    with review_queue.session() as s:
        for row in s.scalars(select(Item)):
            assert row.id is not None
            ids[row.external_id] = row.id
    review_queue.claim(ids["post-3"], "alice")
    ctx = JobContext(review_queue, ModqueueConfig())
    job = next(j for j in default_jobs(ctx.config) if j.name == "deadlines")

    assert run_job(job, ctx).value.to_dict() == {"near": 0, "breached": 0, "escalated": 0}

    clock.advance(hours=2, minutes=10)  # 11:10
    report = run_job(job, ctx).value
    assert report.to_dict() == {"near": 1, "breached": 1, "escalated": 0}
    smuggling = review_queue.get_item(ids["post-1"])
    assert smuggling.deadline_state == "near" and smuggling.queue == "people-smuggling"
    doxxing = review_queue.get_item(ids["post-3"])
    assert doxxing.deadline_state == "breached" and doxxing.queue == "doxxing"  # still alice's
    assert doxxing.priority_breakdown["parts"]["overdue"]["points"] == 25.0

    before = smuggling.priority
    clock.advance(hours=1, minutes=20)  # 12:30
    report = run_job(job, ctx).value
    assert report.to_dict() == {"near": 0, "breached": 1, "escalated": 1}
    smuggling = review_queue.get_item(ids["post-1"])
    assert smuggling.queue == "people-smuggling:senior" and smuggling.escalated
    assert smuggling.deadline_state == "breached" and smuggling.priority > before
    assert events(review_queue, ids["post-1"])[-3:] == [
        "deadline_near",
        "deadline_breached",
        "escalated",
    ]
    assert review_queue.get_item(ids["post-2"]).deadline_state == "ok"

    assert review_queue.expire_leases() == 1  # alice walked away: back in the queue
    assert run_job(job, ctx).value.to_dict() == {"near": 0, "breached": 0, "escalated": 1}
    assert review_queue.get_item(ids["post-3"]).queue == "doxxing:senior"

    clock.advance(hours=20)  # the triage item (24 h SLA) and hate are past too
    run_job(job, ctx)
    item = review_queue.get_item(ids["post-4"])
    assert item.queue == senior_queue(item.policy or TRIAGE) and item.escalated
    assert review_queue.get_item(ids["post-2"]).queue == "hate:senior"
    assert run_job(job, ctx).value.changed == 0


def run_cli(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def test_config_check_accepts_a_good_file(tmp_path: Path) -> None:
    (tmp_path / "inbox").mkdir()
    path = write(
        tmp_path / "modqueue.toml",
        '[sources.referrals]\nkind = "folder"\npath = "inbox"\nevery = "1m"\n',
    )
    result = run_cli("config", "check", "--config", str(path))
    assert result.exit_code == 0, result.output
    assert "ok (1 source(s)" in result.output and "source:referrals" in result.output


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[sources.a]\nkind = "http"\nurl = "ftp://x"\n', "sources.a.url: String should match"),
        ('[sources.a]\nkind = "folder"\npath = "inbox"\nevery = "soon"\n', "invalid duration"),
        ('[sources.a]\nkind = "folder"\npath = "missing"\n', "sources.a.path: folder"),
        ("[jobs.nope]\nevery = 5\n", "jobs.nope: no such job"),
        ("[deadlines]\nnear = 2\n", "deadlines.near"),
        ("[sources.a\n", "invalid TOML"),
    ],
)
def test_config_check_names_file_key_and_problem(tmp_path: Path, toml: str, message: str) -> None:
    (tmp_path / "inbox").mkdir()
    path = write(tmp_path / "modqueue.toml", toml)
    result = run_cli("config", "check", "--config", str(path))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: {path}")
    assert message in result.stderr


def test_serve_once_logs_json_and_keeps_going_after_a_failing_source(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "r.jsonl").write_text(json.dumps(make_item(1, source="referrals")) + "\n")
    write(
        tmp_path / "modqueue.toml",
        "[sources.dead]\n"
        'kind = "http"\nurl = "http://127.0.0.1:9/flags"\ntoken_env = "DEAD_TOKEN"\n'
        "max_attempts = 2\nbackoff_s = 0.01\n"
        '[sources.referrals]\nkind = "folder"\npath = "inbox"\nsettle_s = 0\n',
    )
    db = f"sqlite:///{tmp_path}/serve.db"
    token = "tok-never-in-logs-4711"
    proc = subprocess.run(
        [sys.executable, "-m", "modqueue.cli", "serve", "--once", "--log-json", "--db", db],
        cwd=tmp_path,
        env={**os.environ, "DEAD_TOKEN": token},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1
    assert token not in proc.stderr + proc.stdout
    records = [json.loads(line) for line in proc.stderr.splitlines() if line.strip()]
    failed = [r for r in records if r["level"] == "error"]
    assert len(failed) == 1 and failed[0]["job"] == "source:dead"
    assert failed[0]["source"] == "dead" and "connection failed" in failed[0]["msg"]
    done = {r["job"] for r in records if r["msg"].startswith("job ") and "done" in r["msg"]}
    assert done == {
        "leases",
        "deadlines",
        "retention",
        "bank",
        "audit-partitions",
        "source:referrals",
    }
    assert (inbox / "done" / "r.jsonl").exists()
    with ReviewQueue(db) as queue:
        assert queue.stats()["pending"] == 1
