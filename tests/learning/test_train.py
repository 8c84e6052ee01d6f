"""Training from final human decisions: the card's figures, the registry, refusals."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from sklearn.metrics import average_precision_score, f1_score, precision_score, recall_score
from sqlalchemy import select
from sqlmodel import col

from modqueue._exceptions import ModelError
from modqueue.guidelines import bundled_guidelines_dir
from modqueue.learning import (
    ModelsConfig,
    ModelState,
    activate_model,
    guideline_warning,
    list_models,
    load_bundle,
    load_examples,
    retire_model,
    train_policy,
)
from modqueue.learning._data import is_human
from modqueue.learning._train import threshold_for
from modqueue.queue import AuditEvent, ReviewQueue
from tests.conftest import Clock
from tests.learning.corpus import decide_all, hate_items


def _config(tmp_path: Path, **kw: object) -> ModelsConfig:
    return ModelsConfig(dir=tmp_path / "models", **kw)


def test_card_figures_match_a_recomputation(review_queue: ReviewQueue, tmp_path: Path) -> None:
    assert decide_all(review_queue, hate_items(240)) == 240
    cfg = _config(tmp_path)
    row = train_policy(review_queue, policy="hate", config=cfg)
    assert (row.policy, row.version, row.state) == ("hate", "v1", ModelState.CANDIDATE)
    folder = Path(row.path)
    card = json.loads((folder / "card.json").read_text())
    assert (folder / "pr_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    markdown = (folder / "card.md").read_text()

    examples = review_queue.run(lambda s: load_examples(s, policy="hate"))
    assert card["counts"]["decisions"] == len(examples) == 240
    labels = {e.label for e in examples}
    assert set(card["counts"]["labels"]) == labels
    assert card["guideline_version"] == review_queue.guidelines.get("hate").version
    assert card["guideline_versions"] == [review_queue.guidelines.get("hate").version]

    bundle = load_bundle(folder)
    test = [e for e in examples if e.split == "test"]
    truth = [int(e.violating) for e in test]
    scores = bundle.scores([e.text for e in test])
    pred = [int(s >= 0.5) for s in scores]
    figures = card["metrics"]["test"]
    assert figures["n"] == len(test) and figures["violating"] == sum(truth)
    assert figures["precision"] == pytest.approx(precision_score(truth, pred, zero_division=0))
    assert figures["recall"] == pytest.approx(recall_score(truth, pred, zero_division=0))
    assert figures["f1"] == pytest.approx(f1_score(truth, pred, zero_division=0))
    assert figures["pr_auc"] == pytest.approx(average_precision_score(truth, scores))
    assert f"{figures['pr_auc']:.3f}" in markdown

    op = card["metrics"]["operating_point"]
    assert op["target_precision"] == 0.95 and op["chosen_on"] == "validation"
    val = [e for e in examples if e.split == "validation"]
    expected = threshold_for(
        [int(e.violating) for e in val], bundle.scores([e.text for e in val]), 0.95
    )
    assert op["threshold"] == pytest.approx(expected)
    above = [int(s >= op["threshold"]) for s in scores]
    assert op["test_precision"] == pytest.approx(precision_score(truth, above, zero_division=0))
    # The synthetic rule is learnable: the model is good, not merely present.
    assert figures["pr_auc"] > 0.9
    # The label model suggests takedown labels for violating texts.
    preds = bundle.predict(["market river those people are vermin bus school"])
    assert preds[0].score > 0.5 and preds[0].label in {"remove-hate", "restrict-borderline"}
    assert (
        bundle.predict(["bakery the neighbours held a charity dinner"])[0].label == "no-violation"
    )


def test_registry_activate_retire_and_audit(review_queue: ReviewQueue, tmp_path: Path) -> None:
    decide_all(review_queue, hate_items(120))
    cfg = _config(tmp_path)
    v1 = train_policy(review_queue, policy="hate", config=cfg)
    v2 = train_policy(review_queue, policy="hate", config=cfg)
    assert (v1.version, v2.version) == ("v1", "v2")
    now = review_queue.clock()

    def activate(version: str) -> str:
        return review_queue.run(
            lambda s: activate_model(s, policy="hate", version=version, actor="lead", now=now)
        ).state

    assert activate("v1") == ModelState.ACTIVE
    assert activate("v2") == ModelState.ACTIVE
    states = {r.version: r.state for r in review_queue.run(lambda s: list_models(s))}
    assert states == {"v1": ModelState.CANDIDATE, "v2": ModelState.ACTIVE}
    review_queue.run(lambda s: retire_model(s, policy="hate", version="v1", actor="lead", now=now))
    with pytest.raises(ModelError, match="retired"):
        activate("v1")
    events = review_queue.run(
        lambda s: [
            e
            for e in s.scalars(select(col(AuditEvent.event)).order_by(col(AuditEvent.id)))
            if e.startswith("model_")
        ]
    )
    assert events == [
        "model_trained",
        "model_trained",
        "model_activated",
        "model_candidate",
        "model_activated",
        "model_retired",
    ]


def test_refuses_too_few_decisions(review_queue: ReviewQueue, tmp_path: Path) -> None:
    decide_all(review_queue, hate_items(30))
    with pytest.raises(ModelError, match="only 30 final human decision"):
        train_policy(review_queue, policy="hate", config=_config(tmp_path))
    assert not (tmp_path / "models").exists()


def test_refuses_a_single_class(review_queue: ReviewQueue, tmp_path: Path) -> None:
    decide_all(review_queue, hate_items(60), label_for=lambda item, v: "no-violation")
    with pytest.raises(ModelError, match="all 60 decisions are not violating"):
        train_policy(review_queue, policy="hate", config=_config(tmp_path))


def test_refuses_too_few_of_one_class(review_queue: ReviewQueue, tmp_path: Path) -> None:
    decide_all(
        review_queue,
        hate_items(60),
        label_for=lambda item, v: "remove-hate" if item.id <= 3 else "no-violation",
    )
    with pytest.raises(ModelError, match="only 3 violating decision"):
        train_policy(review_queue, policy="hate", config=_config(tmp_path))


def test_automated_origins_are_not_human() -> None:
    assert is_human("tui") and is_human("api") and is_human("labelstudio")
    assert not is_human("propagated") and not is_human("model:hate@v1")


def test_guideline_change_is_warned(
    review_queue: ReviewQueue, tmp_path: Path, clock: Clock
) -> None:
    decide_all(review_queue, hate_items(120))
    row = train_policy(review_queue, policy="hate", config=_config(tmp_path))
    assert guideline_warning(row, review_queue.guidelines) is None
    folder = tmp_path / "guidelines"
    shutil.copytree(bundled_guidelines_dir(), folder)
    hate = folder / "hate.md"
    hate.write_text(hate.read_text() + "\nA new grey area.\n")
    changed = ReviewQueue(review_queue.database_url, guidelines=folder, clock=clock)
    try:
        warning = guideline_warning(row, changed.guidelines)
    finally:
        changed.close()
    assert warning is not None and "changed since training" in warning
