"""Replay: routing rerun over past items under new guidelines, writing nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy import func, select
from sqlmodel import col

from modqueue.guidelines import bundled_guidelines_dir, load_guidelines
from modqueue.learning import (
    ModelsConfig,
    activate_model,
    load_bundle,
    load_examples,
    replay,
    train_policy,
)
from modqueue.models import ModelVersion
from modqueue.queue import AuditEvent, Decision, Item, ReviewQueue, SyncCursor
from tests.conftest import make_item
from tests.learning.corpus import decide_all, hate_items

REACH = 10_000_000


def _proposed(tmp_path: Path) -> Path:
    folder = tmp_path / "proposed"
    shutil.copytree(bundled_guidelines_dir(), folder)
    hate = folder / "hate.md"
    text = hate.read_text().replace("severity: 3", "severity: 5", 1)
    text = text.replace("    - invaders\n", "    - invaders\n    - newcomers\n", 1)
    hate.write_text(text)
    return folder


def _counts(queue: ReviewQueue) -> dict[str, object]:
    def work(s):
        counts = {
            m.__name__: s.scalar(select(func.count()).select_from(m))
            for m in (Item, Decision, AuditEvent, ModelVersion, SyncCursor)
        }
        last = s.scalars(select(AuditEvent).order_by(col(AuditEvent.id).desc()).limit(1)).first()
        items = s.execute(select(col(Item.id), col(Item.queue), col(Item.priority))).all()
        return {**counts, "last_hash": last.hash if last else None, "items": sorted(items)}

    return queue.run(work)


def test_replay_reports_changes_and_writes_nothing(
    review_queue: ReviewQueue, tmp_path: Path
) -> None:
    corpus = hate_items(120)
    for item in corpus:
        item["views"] = REACH
    decide_all(review_queue, corpus)
    row = train_policy(review_queue, policy="hate", config=ModelsConfig(dir=tmp_path / "m"))
    now = review_queue.clock()
    review_queue.run(lambda s: activate_model(s, policy="hate", version="v1", actor="l", now=now))
    loose = [
        make_item(900 + n, text=t, signals=[], views=REACH)
        for n, t in enumerate(
            [
                "market river the newcomers bus school",
                "harbour the newcomers tram festival",
                "coffee bridge the newcomers cinema",
                "a quiet garden and a library",
                "weather report for the village square",
            ]
        )
    ]
    for item in loose:
        del item["policy"]
    review_queue.enqueue(loose)
    assert review_queue.stats()["by_queue"]["triage"]["pending"] == 5
    before = _counts(review_queue)

    report = replay(
        review_queue,
        guidelines=load_guidelines(_proposed(tmp_path)),
        since=None,
        config=ModelsConfig(dir=tmp_path / "m"),
    )

    assert _counts(review_queue) == before
    hate, triage = report.policies["hate"], report.policies["triage"]
    assert report.items == 125 and report.models == {"hate": "model:hate@v1"}
    assert (hate.items, hate.queue_changes, hate.moved_in) == (123, 3, 3)
    assert hate.band_changes == 123  # severity 3 -> 5 lifts every hate item a band
    assert (triage.items, triage.queue_changes, triage.band_changes) == (2, 0, 0)
    examples = review_queue.run(lambda s: load_examples(s, policy="hate"))
    bundle = load_bundle(Path(row.path))
    predictions = bundle.predict([e.text for e in examples])
    assert hate.decided == 120
    assert hate.model_label_agrees == sum(
        p.label == e.label for p, e in zip(predictions, examples, strict=True)
    )
    assert hate.model_violation_agrees == sum(
        (p.score >= 0.5) == e.violating for p, e in zip(predictions, examples, strict=True)
    )
    assert hate.model_violation_agrees > 100


def test_replay_cli_prints_the_table(database_url: str, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from modqueue.cli import app

    proposed = str(_proposed(tmp_path))
    with ReviewQueue(database_url) as queue:
        queue.enqueue([make_item(1, text="market the newcomers bus", views=REACH)])
    result = CliRunner().invoke(
        app,
        [
            "guidelines",
            "replay",
            proposed,
            "--since",
            "3650d",
            "--db",
            database_url,
        ],
    )
    assert result.exit_code == 0, result.output
    assert "1 item(s) ingested" in result.output
    bad = CliRunner().invoke(
        app, ["guidelines", "replay", proposed, "--since", "soon", "--db", database_url]
    )
    assert bad.exit_code == 1 and "--since" in bad.stderr
