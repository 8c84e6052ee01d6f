"""One real Label Studio server for the whole Label Studio test set; a project per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from modqueue.integrations.labelstudio import (
    LabelStudioClient,
    LabelStudioConfig,
    LabelStudioConnection,
)
from modqueue.queue import ReviewQueue
from tests.conftest import make_item
from tests.support.labelstudio_server import LabelStudioServer

ANNOTATOR = "annotator@modqueue.test"
SECOND_ANNOTATOR = "second@modqueue.test"


@pytest.fixture(scope="session")
def ls_server() -> Iterator[LabelStudioServer]:
    with LabelStudioServer() as server:
        yield server


@pytest.fixture(scope="session")
def annotators(ls_server: LabelStudioServer) -> dict[str, str]:
    """E-mail -> legacy token of two annotator accounts."""
    return {
        ANNOTATOR: ls_server.create_user(ANNOTATOR, "annotator-password-1"),
        SECOND_ANNOTATOR: ls_server.create_user(SECOND_ANNOTATOR, "annotator-password-2"),
    }


@pytest.fixture
def ls_config() -> LabelStudioConfig:
    """Routing for the `hate` queue, with a project title unique to the test."""
    return LabelStudioConfig(
        queues=["hate"],
        share=1.0,
        batch_size=3,
        max_attempts=3,
        backoff_s=0.05,
        project_prefix=f"test-{uuid.uuid4().hex[:10]}",
    )


def connection(server: LabelStudioServer, key: str) -> LabelStudioConnection:
    return LabelStudioConnection(
        url=server.url, api_key=key, timeout_s=20, max_attempts=3, backoff_s=0.05
    )


@pytest.fixture
def ls_client(ls_server: LabelStudioServer) -> LabelStudioClient:
    return LabelStudioClient(connection(ls_server, ls_server.legacy_token))


def hate_item(n: int, score: float = 0.9, **overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "policy": "hate",
        # A letters-only tag per item: ingest clusters texts that differ only in digits,
        # and the push sends one member per cluster.
        "text": f"hateful synthetic post {n} ({''.join(chr(97 + int(d)) for d in str(n))})",
        "signals": [{"name": "hate-clf-v1", "score": score}],
    }
    return make_item(n, **(fields | overrides))


def verdict(label: str, note: str = "") -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = [
        {
            "from_name": "verdict",
            "to_name": "text",
            "type": "choices",
            "value": {"choices": [label]},
        }
    ]
    if note:
        result.append(
            {"from_name": "note", "to_name": "text", "type": "textarea", "value": {"text": [note]}}
        )
    return result


def annotate(
    server: LabelStudioServer,
    token: str,
    task_id: int,
    label: str | None,
    *,
    note: str = "",
    lead_time: float = 5.0,
) -> int:
    """Post an annotation as an annotator would; `label=None` skips the task."""
    body: dict[str, Any] = {"lead_time": lead_time}
    if label is None:
        body |= {"result": [], "was_cancelled": True}
    else:
        body["result"] = verdict(label, note)
    status, answer = server.request(
        "POST", f"/api/tasks/{task_id}/annotations/", token=token, json_body=body
    )
    assert status == 201, answer
    return int(answer["id"])


def task_ids(server: LabelStudioServer, project_id: int) -> list[int]:
    ids: list[int] = []
    page = 1
    while True:
        status, body = server.request(
            "GET",
            f"/api/tasks/?project={project_id}&page={page}&page_size=500",
            token=server.legacy_token,
        )
        if status == 404:
            return ids
        assert status == 200, body
        tasks = body["tasks"] if isinstance(body, dict) else body
        ids += [int(t["id"]) for t in tasks]
        if len(tasks) < 500:
            return ids
        page += 1


@pytest.fixture
def hate_queue(review_queue: ReviewQueue) -> ReviewQueue:
    return review_queue
