"""The Label Studio round trip against a real Label Studio 1.23 server."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from sqlmodel import col, select

from modqueue import IntegrationError
from modqueue.integrations.labelstudio import (
    LabelStudioClient,
    LabelStudioConfig,
    LabelStudioProject,
    LabelStudioTask,
    TaskState,
    cursor_name,
    pull,
    push,
    setup_project,
)
from modqueue.queue import (
    AuditEvent,
    Decision,
    ItemStatus,
    OutboundAction,
    ReviewQueue,
    SyncCursor,
)
from tests.conftest import Clock
from tests.support.labelstudio_server import LabelStudioServer

from .conftest import (
    ANNOTATOR,
    SECOND_ANNOTATOR,
    annotate,
    connection,
    hate_item,
    task_ids,
    verdict,
)

pytestmark = pytest.mark.slow  # a real Label Studio server


def _tasks(queue: ReviewQueue) -> dict[int, LabelStudioTask]:
    return queue.run(
        lambda s: {row.item_id: row for row in s.scalars(select(LabelStudioTask)).all()}
    )


def _decisions(queue: ReviewQueue, item_id: int) -> list[Decision]:
    return queue.run(
        lambda s: list(
            s.scalars(
                select(Decision).where(col(Decision.item_id) == item_id).order_by(col(Decision.id))
            ).all()
        )
    )


def _actions(queue: ReviewQueue, item_id: int) -> list[OutboundAction]:
    return queue.run(
        lambda s: list(
            s.scalars(
                select(OutboundAction)
                .where(col(OutboundAction.item_id) == item_id)
                .order_by(col(OutboundAction.id))
            ).all()
        )
    )


def _project(server: LabelStudioServer, project_id: int) -> dict[str, Any]:
    status, body = server.request("GET", f"/api/projects/{project_id}/", token=server.legacy_token)
    assert status == 200, body
    return dict(body)


def _pushed(queue: ReviewQueue, client: LabelStudioClient, config: LabelStudioConfig, n: int):
    queue.enqueue([hate_item(i) for i in range(1, n + 1)])
    report = push(queue, client, config)
    assert report.pushed == n
    return _tasks(queue)


def test_setup_creates_the_project_from_the_guideline_once(
    review_queue: ReviewQueue,
    ls_server: LabelStudioServer,
    ls_client: LabelStudioClient,
    ls_config: LabelStudioConfig,
) -> None:
    first = setup_project(review_queue, ls_client, policy="hate", prefix=ls_config.project_prefix)
    assert first.created
    project = _project(ls_server, first.project_id)
    assert project["title"] == f"{ls_config.project_prefix}: hate"
    config = project["label_config"]
    guideline = review_queue.guidelines.get("hate")
    for label in guideline.labels:
        assert f'alias="{label.id}"' in config
        assert f'hotkey="{label.hotkey}"' in config
    assert '<Choices name="verdict"' in config
    assert '<TextArea name="note"' in config
    assert "$context_html" in config
    assert "Hate targeting religion or ethnicity" in project["expert_instruction"]

    again = setup_project(review_queue, ls_client, policy="hate", prefix=ls_config.project_prefix)
    assert (again.project_id, again.created, again.updated) == (first.project_id, False, False)
    row = review_queue.run(lambda s: s.get(LabelStudioProject, "hate"))
    assert row is not None
    assert (row.project_id, row.guideline_version) == (first.project_id, guideline.version)


def test_push_leases_items_in_batches_with_predictions_and_no_duplicates(
    review_queue: ReviewQueue,
    ls_server: LabelStudioServer,
    ls_client: LabelStudioClient,
    ls_config: LabelStudioConfig,
) -> None:
    review_queue.enqueue([hate_item(i, score=0.9 if i % 2 else 0.2) for i in range(1, 8)])
    review_queue.enqueue([hate_item(50, policy="doxxing")])  # not a routed queue

    report = push(review_queue, ls_client, ls_config, limit=5)
    assert (report.pushed, report.batches) == (5, 2)
    report = push(review_queue, ls_client, ls_config)
    assert (report.pushed, report.batches) == (2, 1)
    assert push(review_queue, ls_client, ls_config).pushed == 0

    rows = _tasks(review_queue)
    assert len(rows) == 7
    assert all(r.state == TaskState.OPEN and r.task_id for r in rows.values())
    project_id = next(iter(rows.values())).project_id
    assert sorted(task_ids(ls_server, project_id)) == sorted(r.task_id or 0 for r in rows.values())
    for item_id in rows:
        item = review_queue.get_item(item_id)
        assert item.status == ItemStatus.CLAIMED
    # No moderator can take them; the doxxing item is still theirs.
    claim = review_queue.claim_next("alice")
    assert claim is not None and claim.item.policy == "doxxing"
    assert review_queue.claim_next("bob") is None

    status, task = ls_server.request(
        "GET", f"/api/tasks/{rows[1].task_id}/", token=ls_server.legacy_token
    )
    assert status == 200, task
    assert task["data"]["text"] == "hateful synthetic post 1 (b)"
    assert "platform-reports / post-1" in task["data"]["context_html"]
    status, predictions = ls_server.request(
        "GET", f"/api/predictions/?task={rows[1].task_id}", token=ls_server.legacy_token
    )
    assert status == 200, predictions
    assert predictions[0]["result"][0]["value"]["choices"] == ["remove-hate"]
    assert predictions[0]["model_version"] == "hate-clf-v1"
    status, low = ls_server.request(
        "GET", f"/api/predictions/?task={rows[2].task_id}", token=ls_server.legacy_token
    )
    assert low[0]["result"][0]["value"]["choices"] == ["no-violation"]


def test_share_sends_only_part_of_the_queue(
    review_queue: ReviewQueue, ls_client: LabelStudioClient, ls_config: LabelStudioConfig
) -> None:
    from modqueue.integrations.labelstudio import in_share

    review_queue.enqueue([hate_item(i) for i in range(1, 21)])
    half = ls_config.model_copy(update={"share": 0.5})
    expected = sum(in_share("platform-reports", f"post-{i}", 0.5) for i in range(1, 21))
    assert 0 < expected < 20
    assert push(review_queue, ls_client, half).pushed == expected
    assert push(review_queue, ls_client, half).pushed == 0


def test_a_lost_import_answer_is_reconciled_not_sent_twice(
    review_queue: ReviewQueue,
    ls_server: LabelStudioServer,
    ls_client: LabelStudioClient,
    ls_config: LabelStudioConfig,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    review_queue.enqueue([hate_item(i) for i in range(1, 6)])
    real_import = ls_client.import_tasks
    calls: list[int] = []

    def import_then_lose_the_answer(project_id: int, tasks: Any) -> list[int]:
        calls.append(len(tasks))
        real_import(project_id, tasks)
        if len(calls) == 1:
            raise IntegrationError("Label Studio: connection reset while reading the answer")
        if len(calls) == 2:
            raise KeyboardInterrupt  # the process dies after the request went through
        return []

    monkeypatch.setattr(ls_client, "import_tasks", import_then_lose_the_answer)
    with pytest.raises(KeyboardInterrupt):
        push(review_queue, ls_client, ls_config)
    monkeypatch.setattr(ls_client, "import_tasks", real_import)
    states = sorted(r.state for r in _tasks(review_queue).values())
    assert states == ["importing", "importing", "open", "open", "open"]

    report = push(review_queue, ls_client, ls_config)
    assert report.reconciled == 2
    rows = _tasks(review_queue)
    assert all(r.state == TaskState.OPEN for r in rows.values())
    project_id = next(iter(rows.values())).project_id
    in_ls = task_ids(ls_server, project_id)
    assert len(in_ls) == 5
    assert sorted(in_ls) == sorted(r.task_id or 0 for r in rows.values())
    events = review_queue.run(
        lambda s: s.scalars(
            select(AuditEvent).where(col(AuditEvent.event) == "labelstudio_reconciled")
        ).all()
    )
    assert len(events) == 5


def test_pull_turns_an_annotation_into_a_decision_through_the_core_path(
    review_queue: ReviewQueue,
    ls_server: LabelStudioServer,
    ls_client: LabelStudioClient,
    ls_config: LabelStudioConfig,
    annotators: dict[str, str],
) -> None:
    rows = _pushed(review_queue, ls_client, ls_config, 3)
    annotation_id = annotate(
        ls_server,
        annotators[ANNOTATOR],
        rows[1].task_id or 0,
        "remove-hate",
        note="slur aimed at a group",
        lead_time=12.5,
    )

    # Three tasks, pages of three: the page after the last one is a 404 in Label Studio.
    report = pull(review_queue, ls_client, page_size=3)
    assert (report.decided, report.tasks) == (1, 3)
    (decision,) = _decisions(review_queue, 1)
    guideline = review_queue.guidelines.get("hate")
    assert decision.reviewer == f"ls:{ANNOTATOR}"
    assert decision.origin == "labelstudio"
    assert decision.label == "remove-hate"
    assert decision.note == "slur aimed at a group"
    assert decision.seconds_spent == 12.5
    assert decision.external_ref == str(annotation_id)
    assert decision.guideline_version == guideline.version
    assert decision.kind == "primary"
    item = review_queue.get_item(1)
    assert (item.status, item.final_label) == (ItemStatus.DECIDED, "remove-hate")
    (action,) = _actions(review_queue, 1)
    assert (action.action, action.status, action.decision_id) == ("remove", "pending", decision.id)
    assert _tasks(review_queue)[1].state == TaskState.DONE
    decided = review_queue.run(
        lambda s: s.scalars(
            select(AuditEvent).where(
                col(AuditEvent.item_id) == 1, col(AuditEvent.event) == "decided"
            )
        ).one()
    )
    assert decided.actor == f"ls:{ANNOTATOR}"

    project = review_queue.run(lambda s: s.get(LabelStudioProject, "hate"))
    assert project is not None
    cursor = review_queue.run(lambda s: s.get(SyncCursor, cursor_name("hate", project.project_id)))
    assert cursor is not None and cursor.value.endswith("Z")
    again = pull(review_queue, ls_client)
    assert (again.decided, again.updated, again.stored) == (0, 0, 0)
    assert len(_decisions(review_queue, 1)) == 1
    # The other two are still Label Studio's.
    assert review_queue.get_item(2).status == ItemStatus.CLAIMED


def test_an_updated_annotation_supersedes_the_decision(
    review_queue: ReviewQueue,
    ls_server: LabelStudioServer,
    ls_client: LabelStudioClient,
    ls_config: LabelStudioConfig,
    annotators: dict[str, str],
) -> None:
    rows = _pushed(review_queue, ls_client, ls_config, 1)
    annotation_id = annotate(ls_server, annotators[ANNOTATOR], rows[1].task_id or 0, "remove-hate")
    pull(review_queue, ls_client)

    status, body = ls_server.request(
        "PATCH",
        f"/api/annotations/{annotation_id}/",
        token=annotators[ANNOTATOR],
        json_body={
            "result": [
                {
                    "from_name": "verdict",
                    "to_name": "text",
                    "type": "choices",
                    "value": {"choices": ["no-violation"]},
                },
            ],
            "lead_time": 20.0,
        },
    )
    assert status == 200, body
    report = pull(review_queue, ls_client)
    assert report.updated == 1

    old, new = _decisions(review_queue, 1)
    assert (old.status, old.label) == ("superseded", "remove-hate")
    assert (new.status, new.label, new.external_ref) == (
        "active",
        "no-violation",
        str(annotation_id),
    )
    assert new.seconds_spent == 20.0
    item = review_queue.get_item(1)
    assert (item.status, item.final_label) == (ItemStatus.DECIDED, "no-violation")
    (action,) = _actions(review_queue, 1)
    assert action.status == "cancelled"  # never sent: cancelled, nothing to reverse
    assert pull(review_queue, ls_client).updated == 0


@pytest.mark.parametrize("status", ["sent", "failed"])
def test_changing_an_annotation_whose_action_was_sent_queues_its_reversal(
    review_queue: ReviewQueue,
    ls_server: LabelStudioServer,
    ls_client: LabelStudioClient,
    ls_config: LabelStudioConfig,
    annotators: dict[str, str],
    status: str,
) -> None:
    """An action that was attempted may have taken effect on the platform (a failed one
    too: a time-out can hide a removal): it is answered by its opposite, not cancelled."""
    rows = _pushed(review_queue, ls_client, ls_config, 1)
    annotation_id = annotate(ls_server, annotators[ANNOTATOR], rows[1].task_id or 0, "remove-hate")
    pull(review_queue, ls_client)
    with review_queue.session() as s:
        s.execute(
            text("UPDATE outbound_action SET status = :st, attempts = 1 WHERE item_id = 1"),
            {"st": status},
        )
    status_code, body = ls_server.request(
        "PATCH",
        f"/api/annotations/{annotation_id}/",
        token=annotators[ANNOTATOR],
        json_body={
            "result": [
                {
                    "from_name": "verdict",
                    "to_name": "text",
                    "type": "choices",
                    "value": {"choices": ["no-violation"]},
                },
            ],
        },
    )
    assert status_code == 200, body
    assert pull(review_queue, ls_client).updated == 1
    original, reversal = _actions(review_queue, 1)
    assert (original.action, original.status) == ("remove", status)
    assert (reversal.action, reversal.status, reversal.reverses_id) == (
        "restore",
        "pending",
        original.id,
    )


def test_a_skipped_annotation_returns_the_item_to_the_queue(
    review_queue: ReviewQueue,
    ls_server: LabelStudioServer,
    ls_client: LabelStudioClient,
    ls_config: LabelStudioConfig,
    annotators: dict[str, str],
) -> None:
    rows = _pushed(review_queue, ls_client, ls_config, 2)
    annotate(ls_server, annotators[ANNOTATOR], rows[2].task_id or 0, None)
    assert review_queue.claim_next("alice") is None

    report = pull(review_queue, ls_client, page_size=1)  # one task a page
    assert (report.returned, report.tasks) == (1, 2)
    assert _tasks(review_queue)[2].state == TaskState.RETURNED
    claim = review_queue.claim_next("alice")
    assert claim is not None and claim.item_id == 2
    assert _decisions(review_queue, 2) == []
    assert push(review_queue, ls_client, ls_config).pushed == 0  # stays with the moderators
    assert pull(review_queue, ls_client).returned == 0


def test_several_annotations_of_a_task_are_all_kept(
    review_queue: ReviewQueue,
    ls_server: LabelStudioServer,
    ls_client: LabelStudioClient,
    ls_config: LabelStudioConfig,
    annotators: dict[str, str],
) -> None:
    rows = _pushed(review_queue, ls_client, ls_config, 1)
    task_id = rows[1].task_id or 0
    annotate(ls_server, annotators[ANNOTATOR], task_id, "restrict-borderline", lead_time=7)
    annotate(ls_server, annotators[SECOND_ANNOTATOR], task_id, "remove-hate", lead_time=9)

    report = pull(review_queue, ls_client)
    assert (report.decided, report.stored) == (1, 1)
    first, second = _decisions(review_queue, 1)
    assert (first.reviewer, first.kind, first.label) == (
        f"ls:{ANNOTATOR}",
        "primary",
        "restrict-borderline",
    )
    assert (second.reviewer, second.kind, second.label) == (
        f"ls:{SECOND_ANNOTATOR}",
        "second_review",
        "remove-hate",
    )
    assert review_queue.get_item(1).final_label == "restrict-borderline"
    assert [a.action for a in _actions(review_queue, 1)] == ["restrict"]


def test_an_item_decided_elsewhere_first_is_withdrawn(
    review_queue: ReviewQueue,
    clock: Clock,
    ls_server: LabelStudioServer,
    ls_client: LabelStudioClient,
    ls_config: LabelStudioConfig,
    annotators: dict[str, str],
) -> None:
    rows = _pushed(review_queue, ls_client, ls_config, 2)
    clock.advance(seconds=ls_config.lease + 1)
    assert review_queue.expire_leases() == 2
    claim = review_queue.claim(1, "alice")
    review_queue.decide(claim, "no-violation")

    report = push(review_queue, ls_client, ls_config)
    assert report.withdrawn == 2  # decided by alice, and back with the moderators
    assert _tasks(review_queue)[1].state == TaskState.WITHDRAWN
    status, _ = ls_server.request(
        "GET", f"/api/tasks/{rows[1].task_id}/", token=ls_server.legacy_token
    )
    assert status == 404
    assert review_queue.claim_next("bob") is not None


def test_label_studio_restarting_in_the_middle_of_a_sync_loses_nothing(
    review_queue: ReviewQueue,
    ls_server: LabelStudioServer,
    ls_client: LabelStudioClient,
    ls_config: LabelStudioConfig,
    annotators: dict[str, str],
) -> None:
    review_queue.enqueue([hate_item(i) for i in range(1, 7)])
    assert push(review_queue, ls_client, ls_config, limit=3).pushed == 3
    rows = _tasks(review_queue)
    annotate(ls_server, annotators[ANNOTATOR], rows[1].task_id or 0, "remove-hate")
    ls_server.stop()
    try:
        with pytest.raises(IntegrationError) as failed:
            push(review_queue, ls_client, ls_config)
        message = str(failed.value)
        assert ls_server.url in message and "failed" in message
        assert ls_server.legacy_token not in message
        states = sorted(r.state for r in _tasks(review_queue).values())
        assert states == ["importing"] * 3 + ["open"] * 3  # leased, not lost
        with pytest.raises(IntegrationError, match="listing tasks"):
            pull(review_queue, ls_client)
        assert _decisions(review_queue, 1) == []
        assert review_queue.run(lambda s: s.scalars(select(SyncCursor)).all()) == []
    finally:
        ls_server.start()

    assert push(review_queue, ls_client, ls_config).pushed == 3
    rows = _tasks(review_queue)
    assert len(task_ids(ls_server, rows[1].project_id)) == 6
    assert all(r.state == TaskState.OPEN for r in rows.values())
    annotate(ls_server, annotators[ANNOTATOR], rows[5].task_id or 0, "no-violation")
    report = pull(review_queue, ls_client)
    assert report.decided == 2
    assert review_queue.get_item(1).final_label == "remove-hate"
    assert review_queue.get_item(5).final_label == "no-violation"


def test_a_personal_access_token_works_like_a_legacy_token(
    review_queue: ReviewQueue,
    ls_server: LabelStudioServer,
    ls_config: LabelStudioConfig,
    annotators: dict[str, str],
) -> None:
    client = LabelStudioClient(connection(ls_server, ls_server.personal_access_token()))
    assert "eyJ" not in repr(client) and "eyJ" not in repr(client.connection)
    rows = _pushed(review_queue, client, ls_config, 1)
    annotate(ls_server, annotators[ANNOTATOR], rows[1].task_id or 0, "remove-hate")
    assert pull(review_queue, client).decided == 1


def test_a_wrong_key_is_a_clear_error_without_the_key(
    review_queue: ReviewQueue, ls_server: LabelStudioServer, ls_config: LabelStudioConfig
) -> None:
    client = LabelStudioClient(connection(ls_server, "wrong-key-123456"))
    with pytest.raises(IntegrationError) as failed:
        setup_project(review_queue, client, policy="hate", prefix=ls_config.project_prefix)
    assert "HTTP 401" in str(failed.value)
    assert "wrong-key-123456" not in str(failed.value)


def test_an_annotation_with_an_unknown_label_is_reported_not_applied(
    review_queue: ReviewQueue,
    ls_server: LabelStudioServer,
    ls_client: LabelStudioClient,
    ls_config: LabelStudioConfig,
    annotators: dict[str, str],
) -> None:
    rows = _pushed(review_queue, ls_client, ls_config, 1)
    annotation_id = annotate(ls_server, annotators[ANNOTATOR], rows[1].task_id or 0, "retired")

    report = pull(review_queue, ls_client)
    assert report.decided == 0
    (problem,) = report.rejected
    assert f"annotation {annotation_id}" in problem and "'retired'" in problem
    assert _decisions(review_queue, 1) == []
    assert review_queue.get_item(1).status == ItemStatus.CLAIMED  # still Label Studio's
    rejected = review_queue.run(
        lambda s: s.scalars(
            select(AuditEvent).where(col(AuditEvent.event) == "labelstudio_annotation_rejected")
        ).all()
    )
    assert [e.item_id for e in rejected] == [1]


def test_a_choice_posted_by_its_value_maps_to_the_same_label_as_its_alias(
    review_queue: ReviewQueue,
    ls_server: LabelStudioServer,
    ls_client: LabelStudioClient,
    ls_config: LabelStudioConfig,
    annotators: dict[str, str],
) -> None:
    """Label Studio's frontend stores a Choice's alias (the label id); scripts and ML
    backends often post its value ("3 · Remove hateful content"): both decide alike,
    first annotations and later ones, and an update from one form to the other of the
    same label changes nothing."""
    rows = _pushed(review_queue, ls_client, ls_config, 2)
    by_value = annotate(
        ls_server,
        annotators[ANNOTATOR],
        rows[1].task_id or 0,
        "3 · Remove hateful content",
        note="posted by a script",
    )
    annotate(ls_server, annotators[ANNOTATOR], rows[2].task_id or 0, "remove-hate")
    annotate(ls_server, annotators[SECOND_ANNOTATOR], rows[2].task_id or 0, "1 · No violation")

    report = pull(review_queue, ls_client)
    assert (report.decided, report.stored, report.rejected) == (2, 1, [])
    (first,) = _decisions(review_queue, 1)
    assert (first.label, first.note, first.external_ref) == (
        "remove-hate",
        "posted by a script",
        str(by_value),
    )
    assert review_queue.get_item(1).final_label == "remove-hate"
    assert [(d.label, d.kind) for d in _decisions(review_queue, 2)] == [
        ("remove-hate", "primary"),
        ("no-violation", "second_review"),
    ]
    assert [a.action for a in _actions(review_queue, 1)] == ["remove"]

    status, body = ls_server.request(
        "PATCH",
        f"/api/annotations/{by_value}/",
        token=annotators[ANNOTATOR],
        json_body={"result": verdict("remove-hate", "posted by a script")},
    )
    assert status == 200, body
    again = pull(review_queue, ls_client)
    assert (again.updated, again.decided, again.rejected) == (0, 0, [])
    assert again.unchanged >= 1  # this one, and any others the cursor's overlap re-reads
    assert [(d.label, d.status) for d in _decisions(review_queue, 1)] == [("remove-hate", "active")]
