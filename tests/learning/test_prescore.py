"""Pre-scoring: the active model's score reaches the item as a signal, and priority."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from sqlalchemy import select
from sqlmodel import col
from typer.testing import CliRunner

from modqueue.cli import app
from modqueue.config import ModqueueConfig
from modqueue.learning import ModelsConfig, activate_model, prescore_pending, train_policy
from modqueue.queue import AuditEvent, ReviewQueue
from modqueue.scheduler import JobContext, default_jobs, run_job
from tests.conftest import make_item
from tests.learning.corpus import decide_all, hate_items

runner = CliRunner()
HATEFUL = "market river those people are vermin bus school"
CLEAN = "bakery garden the neighbours held a charity dinner tram"


def _trained(queue: ReviewQueue, tmp_path: Path) -> str:
    decide_all(queue, hate_items(120))
    row = train_policy(queue, policy="hate", config=ModelsConfig(dir=tmp_path / "models"))
    now = queue.clock()
    queue.run(lambda s: activate_model(s, policy="hate", version=row.version, actor="l", now=now))
    return f"model:hate@{row.version}"


def test_scores_reach_signals_priority_and_audit(review_queue: ReviewQueue, tmp_path: Path) -> None:
    signal = _trained(review_queue, tmp_path)
    review_queue.enqueue(
        [
            make_item(1001, policy="hate", text=HATEFUL, signals=[]),
            make_item(1002, policy="hate", text=CLEAN, signals=[]),
            make_item(1003, text="a smuggling post nobody trained on", signals=[]),
        ]
    )
    report = prescore_pending(review_queue)
    assert report.scored == {signal: 2} and report.warnings == []
    hateful = review_queue.claim_next("bob", ["hate"])
    assert hateful is not None and hateful.item.external_id == "post-1001"
    scores = {s["name"]: s["score"] for s in hateful.item.signals}
    assert scores[signal] > 0.5
    part = hateful.breakdown["parts"]["signal"]
    assert part["input"]["name"] == signal and part["points"] > 10
    review_queue.release(hateful)
    # Only new items: a second run scores nothing.
    assert prescore_pending(review_queue).scored == {signal: 0}
    actors = review_queue.run(
        lambda s: list(
            s.scalars(select(col(AuditEvent.actor)).where(col(AuditEvent.event) == "merged"))
        )
    )
    assert actors == [signal, signal]
    review_queue.enqueue([make_item(1004, policy="hate", text=CLEAN, signals=[])])
    assert prescore_pending(review_queue).scored == {signal: 1}


def test_serve_job_scores_when_models_are_configured(
    review_queue: ReviewQueue, tmp_path: Path
) -> None:
    signal = _trained(review_queue, tmp_path)
    review_queue.enqueue([make_item(2001, policy="hate", text=HATEFUL, signals=[])])
    assert "model-score" not in {j.name for j in default_jobs(ModqueueConfig())}
    config = ModqueueConfig.model_validate({"models": {"dir": str(tmp_path / "models")}})
    job = next(j for j in default_jobs(config) if j.name == "model-score")
    result = run_job(job, JobContext(queue=review_queue, config=config, log=logging.getLogger("t")))
    assert result.ok and result.value["scored"] == {signal: 1}


def test_cli_train_activate_ingest_score_show(database_url: str, tmp_path: Path) -> None:
    with ReviewQueue(database_url) as queue:
        decide_all(queue, hate_items(120))
    cfg = tmp_path / "modqueue.toml"
    cfg.write_text(f'[models]\ndir = "{tmp_path / "models"}"\n')
    common = ["--db", database_url]
    out = runner.invoke(app, ["model", "train", "--policy", "hate", "--config", str(cfg), *common])
    assert out.exit_code == 0, out.output
    assert "hate v1: 120 decisions" in out.output
    out = runner.invoke(
        app, ["model", "train", "--policy", "doxxing", "--config", str(cfg), *common]
    )
    assert out.exit_code == 1 and "only 0 final human decision" in out.stderr
    out = runner.invoke(app, ["model", "activate", "hate", "v1", *common])
    assert out.exit_code == 0 and "hate v1: active" in out.output
    items = tmp_path / "items.jsonl"
    items.write_text(json.dumps(make_item(3001, policy="hate", text=HATEFUL)) + "\n")
    out = runner.invoke(app, ["ingest", str(items), "--score", *common])
    assert out.exit_code == 0 and "scored 1 new item(s)" in out.stderr
    out = runner.invoke(app, ["model", "list", "--json", *common])
    listed = json.loads(out.output)
    assert [(m["version"], m["state"]) for m in listed] == [("v1", "active")]
    out = runner.invoke(app, ["model", "show", "hate", *common])
    assert out.exit_code == 0 and "signal model:hate@v1" in out.output
    assert "PR-AUC" in out.output


def test_bands_suggest_a_label_or_move_to_the_low_lane(
    review_queue: ReviewQueue, tmp_path: Path
) -> None:
    signal = _trained(review_queue, tmp_path)
    review_queue.enqueue(
        [
            make_item(4001, policy="hate", text=HATEFUL, signals=[]),
            make_item(4002, policy="hate", text=CLEAN, signals=[]),
        ]
    )
    config = ModelsConfig.model_validate(
        {"policies": {"hate": {"suggest_above": 0.6, "low_below": 0.4}}}
    )
    report = prescore_pending(review_queue, config=config)
    assert report.suggested == {signal: 1} and report.low == {signal: 1}
    stats = review_queue.stats()["by_queue"]
    assert stats["hate"]["pending"] == 1 and stats["hate:low"]["pending"] == 1
    # The suggestion rides on the item; a reviewer still decides.
    claim = review_queue.claim_next("bob", ["hate"])
    assert claim is not None and claim.item.external_id == "post-4001"
    assert claim.item.suggestion is not None
    assert claim.item.suggestion["band"] == "suggest"
    assert claim.item.suggestion["label"] in {"remove-hate", "restrict-borderline"}
    assert claim.item.status == "claimed" and claim.item.final_label is None
    assert review_queue.claim_next("bob", ["hate"]) is None
    low = review_queue.claim_next("bob", ["hate:low"])
    assert low is not None and low.item.external_id == "post-4002"
    assert low.item.suggestion is not None and low.item.suggestion["label"] == "no-violation"
    decision = review_queue.decide(low, "remove-hate")  # the human overrules the model
    assert decision.guideline_id == "hate"
    events = review_queue.run(
        lambda s: list(
            s.scalars(select(col(AuditEvent.actor)).where(col(AuditEvent.event) == "model_routed"))
        )
    )
    assert events == [signal, signal]
