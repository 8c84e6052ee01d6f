"""Active learning against the real Label Studio: uncertainty sampling and the model's
pre-annotations."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import select

from modqueue import ConfigError
from modqueue.integrations.labelstudio import (
    LabelStudioClient,
    LabelStudioConfig,
    LabelStudioTask,
    push,
)
from modqueue.learning import ModelsConfig, activate_model, active_model_for, train_policy
from modqueue.queue import ReviewQueue
from tests.conftest import make_item
from tests.learning.corpus import decide_all, hate_items
from tests.support.labelstudio_server import LabelStudioServer

pytestmark = pytest.mark.slow  # a real Label Studio server

CLEAR = [
    "market river those people are vermin bus school",
    "bakery the newcomers are invaders football tram",
    "coffee bridge that community should be sent back cinema",
    "garden music the neighbours held a charity dinner library",
    "harbour festival those people won the match village",
    "square museum the newcomers opened a new clinic weather",
]
BORDERLINE = ["market river bus school tram", "bakery coffee garden music bridge"]


def _with_model(queue: ReviewQueue, tmp_path: Path) -> None:
    decide_all(queue, hate_items(120))
    row = train_policy(queue, policy="hate", config=ModelsConfig(dir=tmp_path / "models"))
    now = queue.clock()
    queue.run(lambda s: activate_model(s, policy="hate", version=row.version, actor="l", now=now))


def test_uncertainty_push_sends_the_borderline_items_with_model_predictions(
    review_queue: ReviewQueue,
    ls_server: LabelStudioServer,
    ls_client: LabelStudioClient,
    ls_config: LabelStudioConfig,
    tmp_path: Path,
) -> None:
    _with_model(review_queue, tmp_path)
    texts = CLEAR + BORDERLINE
    review_queue.enqueue(
        [make_item(500 + n, policy="hate", text=t, signals=[]) for n, t in enumerate(texts)]
    )
    model = review_queue.run(lambda s: active_model_for(s, "hate"))
    assert model is not None
    scores = {t: p.score for t, p in zip(texts, model.predict(texts), strict=True)}
    nearest = sorted(texts, key=lambda t: abs(scores[t] - 0.5))[:2]
    assert sorted(nearest) == sorted(BORDERLINE)  # the corpus makes these the unsure ones

    report = push(review_queue, ls_client, ls_config, limit=2, strategy="uncertainty")
    assert report.pushed == 2
    rows = review_queue.run(lambda s: list(s.scalars(select(LabelStudioTask)).all()))
    pushed = {review_queue.get_item(r.item_id).text or "": r.task_id for r in rows}
    assert sorted(pushed) == sorted(BORDERLINE)
    for text, task_id in pushed.items():
        status, predictions = ls_server.request(
            "GET", f"/api/predictions/?task={task_id}", token=ls_server.legacy_token
        )
        assert status == 200, predictions
        assert len(predictions) == 1
        assert predictions[0]["model_version"] == "model:hate@v1"
        assert predictions[0]["score"] == pytest.approx(scores[text], abs=1e-4)
        choice = predictions[0]["result"][0]
        assert (choice["from_name"], choice["to_name"], choice["type"]) == (
            "verdict",
            "text",
            "choices",
        )
        expected = model.predict([text])[0].label
        assert choice["value"]["choices"] == [expected]

    # The rest go by priority with the model's predictions too.
    report = push(review_queue, ls_client, ls_config, strategy="priority")
    assert report.pushed == len(CLEAR)


def test_uncertainty_without_a_model_is_refused(
    review_queue: ReviewQueue, ls_client: LabelStudioClient, ls_config: LabelStudioConfig
) -> None:
    review_queue.enqueue([make_item(1, policy="hate", text="a post", signals=[])])
    with pytest.raises(ConfigError, match="has no active model"):
        push(review_queue, ls_client, ls_config, strategy="uncertainty")
