"""Access control at the Label Studio pull, against the real Label Studio server.

Annotators act as the reviewer linked to their e-mail; each role allowed and refused,
refusals audited and reported, and applied exactly once after the admin fixes them.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import col, select

from modqueue.integrations.labelstudio import (
    LabelStudioClient,
    LabelStudioConfig,
    LabelStudioRefusal,
    pull,
)
from modqueue.queue import (
    AuditEvent,
    ItemStatus,
    ReviewQueue,
    disable_reviewer,
    grant_reviewer,
    link_reviewer,
)
from tests.access.conftest import ROLES, add, denials
from tests.support.labelstudio_server import LabelStudioServer

from .conftest import ANNOTATOR, SECOND_ANNOTATOR, annotate
from .test_roundtrip import _decisions, _pushed

pytestmark = pytest.mark.slow  # a real Label Studio server

ANNOTATOR_ACTOR = f"ls:{ANNOTATOR}"


@pytest.fixture
def team(review_queue: ReviewQueue) -> ReviewQueue:
    """`root` (admin, every policy), linked to the second annotator, and `<role>-1` for
    each role, granted `hate` and linked to nobody yet."""
    add(review_queue, "root", "admin", [], None, labelstudio_email=SECOND_ANNOTATOR)
    for role in ROLES:
        add(review_queue, f"{role}-1", role, ["hate"], "root")
    return review_queue


def _link(q: ReviewQueue, name: str, email: str | None) -> None:
    q.run(
        lambda s: link_reviewer(s, actor="root", name=name, labelstudio_email=email, now=q.clock())
    )


def _grant(q: ReviewQueue, name: str, **change: Any) -> None:
    q.run(lambda s: grant_reviewer(s, actor="root", name=name, now=q.clock(), **change))


def _disable(q: ReviewQueue, name: str, *, enable: bool = False) -> None:
    q.run(lambda s: disable_reviewer(s, actor="root", name=name, now=q.clock(), enable=enable))


def _refusals(q: ReviewQueue) -> list[LabelStudioRefusal]:
    return q.run(lambda s: list(s.scalars(select(LabelStudioRefusal)).all()))


def _events(q: ReviewQueue, event: str, item_id: int) -> list[AuditEvent]:
    return q.run(
        lambda s: list(
            s.scalars(
                select(AuditEvent)
                .where(col(AuditEvent.event) == event, col(AuditEvent.item_id) == item_id)
                .order_by(col(AuditEvent.id))
            ).all()
        )
    )


def _patch(server: LabelStudioServer, token: str, annotation_id: int, label: str) -> None:
    status, body = server.request(
        "PATCH",
        f"/api/annotations/{annotation_id}/",
        token=token,
        json_body={
            "result": [
                {
                    "from_name": "verdict",
                    "to_name": "text",
                    "type": "choices",
                    "value": {"choices": [label]},
                }
            ]
        },
    )
    assert status == 200, body


@pytest.mark.parametrize("role", ROLES)
def test_each_role_decides_as_its_reviewer_and_only_seniors_in_a_senior_queue(
    team: ReviewQueue,
    role: str,
    ls_server: LabelStudioServer,
    ls_client: LabelStudioClient,
    ls_config: LabelStudioConfig,
    annotators: dict[str, str],
) -> None:
    q, who = team, f"{role}-1"
    _link(q, who, ANNOTATOR.upper())  # e-mails match without regard to case
    rows = _pushed(q, ls_client, ls_config, 2)
    annotate(ls_server, annotators[ANNOTATOR], rows[1].task_id or 0, "remove-hate")
    # root escalates item 2 to hate:senior; then the annotator labels it there too.
    annotate(ls_server, annotators[SECOND_ANNOTATOR], rows[2].task_id or 0, "escalate")
    late = annotate(ls_server, annotators[ANNOTATOR], rows[2].task_id or 0, "no-violation")

    report = pull(q, ls_client)
    assert report.decided == 2
    (decision,) = _decisions(q, 1)
    assert (decision.reviewer, decision.label) == (who, "remove-hate")
    assert [e.actor for e in _events(q, "decided", 1)] == [who]
    assert q.get_item(1).status == ItemStatus.DECIDED
    item = q.get_item(2)
    assert (item.queue, item.status) == ("hate:senior", ItemStatus.PENDING)
    escalated = _decisions(q, 2)[0]
    assert (escalated.reviewer, escalated.label) == ("root", "escalate")

    if role != "reviewer":
        assert (report.stored, report.rejected) == (1, [])
        second = _decisions(q, 2)[1]
        assert (second.reviewer, second.kind, second.external_ref) == (
            who,
            "second_review",
            str(late),
        )
        assert denials(q, who) == []
        assert _refusals(q) == []
        return

    assert report.stored == 0
    (line,) = report.rejected
    assert line.startswith(f"task {rows[2].task_id} annotation {late} by {ANNOTATOR}: ")
    assert "reviewer 'reviewer-1' (role reviewer) may not decide items in the senior" in line
    assert "`modqueue reviewers grant reviewer-1 --role senior`" in line
    assert len(_decisions(q, 2)) == 1
    (denial,) = denials(q, who)
    assert denial.item_id == 2
    assert denial.detail is not None
    assert denial.detail["permission"] == "decide"
    assert denial.detail["queue"] == "hate:senior"
    assert denial.detail["annotation_id"] == late
    assert denial.detail["labelstudio_task"] == rows[2].task_id

    _grant(q, who, role="senior")
    fixed = pull(q, ls_client)
    assert (fixed.stored, fixed.retried, fixed.rejected) == (1, 1, [])
    second = _decisions(q, 2)[1]
    assert (second.reviewer, second.external_ref) == (who, str(late))
    again = pull(q, ls_client)
    assert (again.stored, again.retried) == (0, 0)
    assert len(_decisions(q, 2)) == 2
    assert len(denials(q, who)) == 1
    assert _refusals(q) == []


def test_an_unlinked_annotator_is_refused_until_linked_then_applied_once(
    team: ReviewQueue,
    ls_server: LabelStudioServer,
    ls_client: LabelStudioClient,
    ls_config: LabelStudioConfig,
    annotators: dict[str, str],
) -> None:
    q = team
    rows = _pushed(q, ls_client, ls_config, 3)
    first = annotate(ls_server, annotators[ANNOTATOR], rows[1].task_id or 0, "remove-hate")
    skip = annotate(ls_server, annotators[ANNOTATOR], rows[2].task_id or 0, None)
    annotate(ls_server, annotators[SECOND_ANNOTATOR], rows[3].task_id or 0, "no-violation")

    report = pull(q, ls_client, page_size=3)
    # root's annotation on the same page applies; the unlinked annotator's two do not.
    assert (report.decided, report.returned) == (1, 0)
    assert q.get_item(3).final_label == "no-violation"
    fix = f"`modqueue reviewers link NAME --labelstudio-email {ANNOTATOR}`"
    assert sorted(report.rejected) == sorted(
        [
            f"task {rows[1].task_id} annotation {first} by {ANNOTATOR}: no reviewer is linked "
            f"to the Label Studio account {ANNOTATOR!r}: an admin runs {fix} "
            f"(NAME: the reviewer who annotates as {ANNOTATOR})",
            f"task {rows[2].task_id} annotation {skip} by {ANNOTATOR}: no reviewer is linked "
            f"to the Label Studio account {ANNOTATOR!r}: an admin runs {fix} "
            f"(NAME: the reviewer who annotates as {ANNOTATOR})",
        ]
    )
    for item_id in (1, 2):
        assert q.get_item(item_id).status == ItemStatus.CLAIMED  # still Label Studio's
    assert _decisions(q, 1) == []
    refused = denials(q, ANNOTATOR_ACTOR)
    assert sorted((e.item_id, (e.detail or {})["permission"]) for e in refused) == [
        (1, "decide"),
        (2, "release"),
    ]

    # The cursor has moved on; the next pull fetches both tasks again, still refused,
    # reported again but not audited again.
    again = pull(q, ls_client)
    assert (again.retried, again.decided, again.returned, len(again.rejected)) == (2, 0, 0, 2)
    assert len(denials(q, ANNOTATOR_ACTOR)) == 2

    _link(q, "reviewer-1", ANNOTATOR)
    fixed = pull(q, ls_client)
    assert (fixed.retried, fixed.decided, fixed.returned, fixed.rejected) == (2, 1, 1, [])
    (decision,) = _decisions(q, 1)
    assert (decision.reviewer, decision.external_ref) == ("reviewer-1", str(first))
    assert q.get_item(2).status == ItemStatus.PENDING
    assert [e.actor for e in _events(q, "released", 2)] == ["reviewer-1"]
    assert _refusals(q) == []

    final = pull(q, ls_client)
    assert (final.retried, final.decided, final.returned, final.rejected) == (0, 0, 0, [])
    assert len(_decisions(q, 1)) == 1
    assert denials(q, "reviewer-1") == []


def test_a_disabled_reviewer_is_refused_until_enabled(
    team: ReviewQueue,
    ls_server: LabelStudioServer,
    ls_client: LabelStudioClient,
    ls_config: LabelStudioConfig,
    annotators: dict[str, str],
) -> None:
    q = team
    _link(q, "reviewer-1", ANNOTATOR)
    rows = _pushed(q, ls_client, ls_config, 2)
    token = annotators[ANNOTATOR]
    first = annotate(ls_server, token, rows[1].task_id or 0, "remove-hate")
    assert pull(q, ls_client).decided == 1

    _disable(q, "reviewer-1")
    _patch(ls_server, token, first, "no-violation")  # an update: supersede
    second = annotate(ls_server, token, rows[2].task_id or 0, "restrict-borderline")
    report = pull(q, ls_client)
    assert (report.updated, report.decided) == (0, 0)
    assert len(report.rejected) == 2
    for line, annotation in zip(sorted(report.rejected), sorted([first, second]), strict=True):
        assert f"annotation {annotation} by {ANNOTATOR}: reviewer 'reviewer-1' is disabled" in line
        assert "`modqueue reviewers disable reviewer-1 --enable`" in line
    assert q.get_item(1).final_label == "remove-hate"
    assert q.get_item(2).status == ItemStatus.CLAIMED
    assert sorted(e.item_id or 0 for e in denials(q, "reviewer-1")) == [1, 2]

    _disable(q, "reviewer-1", enable=True)
    fixed = pull(q, ls_client)
    assert (fixed.updated, fixed.decided, fixed.retried, fixed.rejected) == (1, 1, 2, [])
    assert q.get_item(1).final_label == "no-violation"
    assert q.get_item(2).final_label == "restrict-borderline"
    assert [d.reviewer for d in _decisions(q, 2)] == ["reviewer-1"]
    again = pull(q, ls_client)
    assert (again.updated, again.decided, again.retried) == (0, 0, 0)
    assert len(_decisions(q, 1)) == 2  # the superseded one and its replacement
    assert len(denials(q, "reviewer-1")) == 2


def test_a_reviewer_without_the_policy_is_refused_until_granted(
    team: ReviewQueue,
    ls_server: LabelStudioServer,
    ls_client: LabelStudioClient,
    ls_config: LabelStudioConfig,
    annotators: dict[str, str],
) -> None:
    q = team
    add(q, "doxxing-1", "senior", ["doxxing"], "root", labelstudio_email=ANNOTATOR)
    rows = _pushed(q, ls_client, ls_config, 1)
    annotation = annotate(ls_server, annotators[ANNOTATOR], rows[1].task_id or 0, "remove-hate")

    report = pull(q, ls_client)
    (line,) = report.rejected
    assert f"annotation {annotation} by {ANNOTATOR}: " in line
    assert "reviewer 'doxxing-1' is not granted policy 'hate'" in line
    assert "`modqueue reviewers grant doxxing-1 --policy hate`" in line
    assert q.get_item(1).status == ItemStatus.CLAIMED
    (denial,) = denials(q, "doxxing-1")
    assert denial.detail is not None and denial.detail["policy"] == "hate"

    _grant(q, "doxxing-1", policies=["hate"])
    fixed = pull(q, ls_client)
    assert (fixed.decided, fixed.retried, fixed.rejected) == (1, 1, [])
    assert [d.reviewer for d in _decisions(q, 1)] == ["doxxing-1"]
    assert pull(q, ls_client).decided == 0
    assert len(_decisions(q, 1)) == 1


def test_open_mode_pulls_as_before(
    review_queue: ReviewQueue,
    ls_server: LabelStudioServer,
    ls_client: LabelStudioClient,
    ls_config: LabelStudioConfig,
    annotators: dict[str, str],
) -> None:
    q = review_queue
    rows = _pushed(q, ls_client, ls_config, 2)
    annotate(ls_server, annotators[ANNOTATOR], rows[1].task_id or 0, "remove-hate")
    annotate(ls_server, annotators[SECOND_ANNOTATOR], rows[2].task_id or 0, None)

    report = pull(q, ls_client)
    assert (report.decided, report.returned, report.retried, report.rejected) == (1, 1, 0, [])
    assert [d.reviewer for d in _decisions(q, 1)] == [ANNOTATOR_ACTOR]
    assert [e.actor for e in _events(q, "released", 2)] == [f"ls:{SECOND_ANNOTATOR}"]
    assert denials(q, ANNOTATOR_ACTOR) == []
    assert _refusals(q) == []
