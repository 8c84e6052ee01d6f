"""Drift: a model whose precision on recent human decisions fell is flagged."""

from __future__ import annotations

import logging
from pathlib import Path

from typer.testing import CliRunner

from modqueue.cli import app
from modqueue.config import ModqueueConfig
from modqueue.learning import ModelsConfig, activate_model, check_drift, train_policy
from modqueue.queue import ReviewQueue
from modqueue.scheduler import JobContext, default_jobs, run_job
from tests.conftest import Clock
from tests.learning.corpus import decide_all, hate_items


def _active(queue: ReviewQueue, tmp_path: Path) -> None:
    decide_all(queue, hate_items(120))
    row = train_policy(queue, policy="hate", config=ModelsConfig(dir=tmp_path / "models"))
    now = queue.clock()
    queue.run(lambda s: activate_model(s, policy="hate", version=row.version, actor="l", now=now))


def test_drift_is_flagged_on_the_dashboard_and_in_show(
    review_queue: ReviewQueue, tmp_path: Path, clock: Clock, caplog
) -> None:
    _active(review_queue, tmp_path)
    clock.advance(hours=1)
    config = ModelsConfig(dir=tmp_path / "models", drift_min_decisions=20)
    # Recent decisions the model agrees with: no drift.
    decide_all(review_queue, hate_items(40, start=1000))
    report = check_drift(review_queue, config=config)
    check = report.checks["hate"]
    assert check["decisions"] == 40 and not check["drifted"]
    assert check["recent_precision"] > 0.9
    assert review_queue.dashboard("lead").models[0].drifted is False

    # The guideline's reading changed: reviewers now clear what the model calls violating.
    clock.advance(hours=1)
    decide_all(
        review_queue,
        hate_items(60, start=2000, share=0.9),
        label_for=lambda item, violating: "no-violation",
    )
    full = ModqueueConfig.model_validate(
        {"models": {"dir": str(tmp_path / "models"), "drift_min_decisions": 20}}
    )
    job = next(j for j in default_jobs(full) if j.name == "model-drift")
    with caplog.at_level(logging.WARNING, logger="t"):
        result = run_job(
            job, JobContext(queue=review_queue, config=full, log=logging.getLogger("t"))
        )
    assert result.ok and result.value["drifted"] == ["hate"]
    check = result.value["checks"]["hate"]
    assert check["decisions"] == 100
    called = check["called_violating"]
    assert called > 0 and check["recent_precision"] < check["test_precision"] - 0.1
    assert "model-drift: hate v1" in caplog.text

    models = review_queue.dashboard("lead").models
    assert [(m.policy, m.version, m.drifted) for m in models] == [("hate", "v1", True)]
    out = CliRunner().invoke(app, ["model", "show", "hate", "--db", review_queue.database_url])
    assert out.exit_code == 0, out.output
    assert "drift (DRIFTED)" in out.output and "has drifted" in out.stderr
    listed = CliRunner().invoke(app, ["model", "list", "--db", review_queue.database_url])
    assert "DRIFT" in listed.output
