"""Media and the "Show media" reveal, against the real Label Studio server (the API side;
`test_browser.py` ticks the box in the page itself)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlmodel import col, select

from modqueue.integrations.labelstudio import (
    LabelStudioClient,
    LabelStudioConfig,
    LabelStudioTask,
    pull,
    push,
)
from modqueue.queue import AuditEvent, ItemStatus, ReviewQueue
from tests.conftest import make_item
from tests.support.labelstudio_server import LabelStudioServer

from .conftest import ANNOTATOR, verdict

pytestmark = pytest.mark.slow  # a real Label Studio server

POLICY = "violent-threats"  # graphic
SHOWN = [
    {
        "from_name": "show_media",
        "to_name": "text",
        "type": "choices",
        "value": {"choices": ["Show media"]},
    }
]


def _post(server: LabelStudioServer, token: str, task_id: int, body: dict[str, Any]) -> int:
    status, answer = server.request(
        "POST", f"/api/tasks/{task_id}/annotations/", token=token, json_body=body
    )
    assert status == 201, answer
    return int(answer["id"])


def _reveals(q: ReviewQueue) -> list[AuditEvent]:
    return q.run(
        lambda s: list(
            s.scalars(
                select(AuditEvent)
                .where(col(AuditEvent.event) == "revealed")
                .order_by(col(AuditEvent.id))
            ).all()
        )
    )


def test_show_media_is_audited_once_per_annotation_for_decisions_and_skips(
    review_queue: ReviewQueue,
    ls_server: LabelStudioServer,
    ls_client: LabelStudioClient,
    annotators: dict[str, str],
) -> None:
    q, token = review_queue, annotators[ANNOTATOR]
    image = "https://media.example/post-1.jpg"
    q.enqueue(
        [
            # Distinct texts: ingest clusters copies, and the push sends one per cluster.
            make_item(1, policy=POLICY, text="first post", media=[{"kind": "image", "url": image}]),
            make_item(
                2,
                policy=POLICY,
                text="second post",
                media=[{"kind": "video", "url": "https://v.example/2"}],
            ),
            make_item(3, policy=POLICY, text="third post"),
        ]
    )
    config = LabelStudioConfig(
        queues=[POLICY], share=1.0, project_prefix=f"media-{uuid.uuid4().hex[:10]}"
    )
    assert push(q, ls_client, config).pushed == 3
    rows = q.run(lambda s: {r.item_id: r for r in s.scalars(select(LabelStudioTask))})
    status, task = ls_server.request(
        "GET", f"/api/tasks/{rows[1].task_id}/", token=ls_server.legacy_token
    )
    assert status == 200 and task["data"]["image"] == image

    shown = _post(
        ls_server,
        token,
        rows[1].task_id or 0,
        {"result": verdict("remove-glorification", "seen") + SHOWN, "lead_time": 3},
    )
    _post(ls_server, token, rows[2].task_id or 0, {"result": SHOWN, "was_cancelled": True})
    _post(ls_server, token, rows[3].task_id or 0, {"result": verdict("no-violation")})

    report = pull(q, ls_client)
    assert (report.decided, report.returned, report.rejected) == (2, 1, [])
    assert q.get_item(2).status == ItemStatus.PENDING
    reveals = _reveals(q)
    assert [(e.item_id, e.actor) for e in reveals] == [
        (1, f"ls:{ANNOTATOR}"),
        (2, f"ls:{ANNOTATOR}"),
    ]
    assert (reveals[0].detail or {})["what"] == f"media (Label Studio annotation {shown})"

    # Read again (the cursor's overlap) and changed: still one reveal per annotation.
    status, body = ls_server.request(
        "PATCH",
        f"/api/annotations/{shown}/",
        token=token,
        json_body={"result": verdict("remove-ban-threat", "seen again") + SHOWN},
    )
    assert status == 200, body
    again = pull(q, ls_client)
    assert again.updated == 1
    assert len(_reveals(q)) == 2
