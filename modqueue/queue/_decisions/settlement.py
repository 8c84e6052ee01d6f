"""Where a decision leads: final, a blind second review, the senior queue, or an appeal's
outcome.

The pipeline (`pipeline.decide`) records every reviewer's label as a `Decision` and asks
`settle()` what happens to the item next. `settle` only reads (and locks) rows and returns a
`Settlement`, a plan; the pipeline applies it. Only a decision that makes the item's label
final queues an outbound action, so a sampled item is not acted on until its second review
agrees (or a senior decides). An overturned appeal queues the reverse of the earlier action.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from modqueue.guidelines import REVERSAL_OF, Action, Label
from modqueue.queue._core.models import Decision, OutboundAction
from modqueue.queue._core.quality_config import QualityConfig
from modqueue.queue._core.quality_models import Appeal, AppealStatus
from modqueue.queue._core.routing import (
    is_second_review_queue,
    is_senior_queue,
    second_review_queue,
    senior_queue,
)
from modqueue.queue._core.types import ActionStatus, DecisionStatus, ItemStatus
from modqueue.queue._decisions.reversal import plan_reversals

__all__ = [
    "DecisionKind",
    "PlannedAction",
    "Settlement",
    "decision_kind",
    "open_appeal_for",
    "sampled_for_second_review",
    "settle",
    "standing_decision",
]

_SCALE = float(2**64)


class DecisionKind:
    """The `kind` of a stored decision."""

    PRIMARY = "primary"
    SECOND_REVIEW = "second_review"
    SENIOR = "senior"
    APPEAL = "appeal"


@dataclass(frozen=True, slots=True)
class PlannedAction:
    """An outbound action the caller queues: `action`, why, and what it reverses."""

    action: str
    reason: str
    reverses_id: int | None = None


@dataclass(slots=True)
class Settlement:
    """Where a decision leads, as a plan the pipeline applies: the route taken, the item's
    new column values, actions to queue, and (appeals) the appeal to close, the decision it
    supersedes and the pending actions to cancel (with `cancel_reason`)."""

    route: str
    item: dict[str, Any] = field(default_factory=dict)
    actions: list[PlannedAction] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)
    appeal: Appeal | None = None
    appeal_status: str | None = None
    supersedes: Decision | None = None
    cancel: list[OutboundAction] = field(default_factory=list)
    cancel_reason: str = ""


def sampled_for_second_review(source: str, external_id: str, share: float) -> bool:
    """Whether the item `(source, external_id)` falls in a `share` sample.

    Deterministic: the first 64 bits of SHA-256 of the identity, as a fraction of 2^64,
    compared with `share`. The same item is always in or out, on every machine.
    """
    if share <= 0.0:
        return False
    if share >= 1.0:
        return True
    digest = hashlib.sha256(f"second-review\0{source}\0{external_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / _SCALE < share


def open_appeal_for(session: Session, item_id: int, *, lock: bool = False) -> Appeal | None:
    """The item's open appeal, if any."""
    query = select(Appeal).where(
        col(Appeal.item_id) == item_id, col(Appeal.status) == AppealStatus.OPEN
    )
    if lock:
        query = query.with_for_update()
    return session.scalars(query).one_or_none()


def decision_kind(session: Session, *, queue: str, item_id: int) -> str:
    """The kind of decision a reviewer makes on item `item_id` in `queue` (one query,
    for senior queues only)."""
    if is_second_review_queue(queue):
        return DecisionKind.SECOND_REVIEW
    if is_senior_queue(queue):
        if open_appeal_for(session, item_id) is not None:
            return DecisionKind.APPEAL
        return DecisionKind.SENIOR
    return DecisionKind.PRIMARY


def _final(label: Label, now: datetime) -> tuple[dict[str, Any], list[PlannedAction]]:
    """The item's columns once `label` is final, and the action it queues (if any)."""
    item = {"status": ItemStatus.DECIDED, "decided_at": now, "final_label": label.id}
    if label.action in (Action.NONE, Action.ESCALATE):
        return item, []
    return item, [PlannedAction(label.action.value, label.title)]


def standing_decision(session: Session, item_id: int, *criteria: Any) -> Decision | None:
    """The item's newest active, non-escalating decision that also meets `criteria`."""
    return session.scalars(
        select(Decision)
        .where(
            col(Decision.item_id) == item_id,
            col(Decision.status) == DecisionStatus.ACTIVE,
            col(Decision.action) != Action.ESCALATE.value,
            *criteria,
        )
        .order_by(col(Decision.id).desc())
        .limit(1)
    ).one_or_none()


def _primary_label(session: Session, item_id: int) -> Decision | None:
    return standing_decision(session, item_id, col(Decision.kind) == DecisionKind.PRIMARY)


def _settle_appeal(
    session: Session, *, item_id: int, reviewer: str, label: Label, appeal: Appeal, now: datetime
) -> Settlement:
    item: dict[str, Any] = {
        "status": ItemStatus.DECIDED,
        "decided_at": now,
        "final_label": label.id,
    }
    if label.id == appeal.appealed_label:
        return Settlement(
            "appeal_upheld",
            item,
            detail={"appeal_id": appeal.id, "outcome": "upheld"},
            appeal=appeal,
            appeal_status=AppealStatus.UPHELD,
        )
    old = session.get(Decision, appeal.appealed_decision_id)
    plan = plan_reversals(session, item_id=item_id, keep_action=label.action.value)
    planned = [
        PlannedAction(
            REVERSAL_OF[Action(action.action)],
            f"appeal overturned: {label.title}",
            reverses_id=action.id,
        )
        for action in plan.reverse
    ]
    reversals = aliased(OutboundAction)
    keep_same = session.scalar(
        select(
            exists().where(
                col(OutboundAction.item_id) == item_id,
                col(OutboundAction.action) == label.action.value,
                col(OutboundAction.reverses_id).is_(None),
                col(OutboundAction.status).not_in(
                    [ActionStatus.CANCELLED, ActionStatus.DECLINED, ActionStatus.FAILED]
                ),
                ~exists().where(col(reversals.reverses_id) == col(OutboundAction.id)),
            )
        )
    )
    if not keep_same and label.action not in (Action.NONE, Action.ESCALATE):
        planned.append(PlannedAction(label.action.value, label.title))
    return Settlement(
        "appeal_overturned",
        item,
        planned,
        {
            "appeal_id": appeal.id,
            "outcome": "overturned",
            "cancelled_actions": [a.id for a in plan.cancel],
        },
        appeal=appeal,
        appeal_status=AppealStatus.OVERTURNED,
        supersedes=old if old is not None and old.status == DecisionStatus.ACTIVE else None,
        cancel=plan.cancel,
        cancel_reason=f"cancelled: appeal {appeal.id} overturned the decision",
    )


def settle(
    session: Session,
    *,
    item_id: int,
    source: str,
    external_id: str,
    kind: str,
    reviewer: str,
    label: Label,
    policy: str,
    quality: QualityConfig,
    now: datetime,
) -> Settlement:
    """Where a `kind` decision with a non-escalating `label` on item `item_id` leads: a
    plan for the pipeline (no row is written here)."""
    if kind == DecisionKind.SECOND_REVIEW:
        primary = _primary_label(session, item_id)
        if primary is None or primary.label == label.id:
            item, actions = _final(label, now)
            return Settlement(
                "second_review_agreed",
                item,
                actions,
                {"primary_decision_id": primary.id if primary else None},
            )
        return Settlement(
            "second_review_disagreed",
            {"queue": senior_queue(policy), "status": ItemStatus.PENDING, "escalated": True},
            detail={"primary_decision_id": primary.id},
        )
    if kind == DecisionKind.APPEAL:
        appeal = open_appeal_for(session, item_id, lock=True)
        assert appeal is not None
        return _settle_appeal(
            session, item_id=item_id, reviewer=reviewer, label=label, appeal=appeal, now=now
        )
    if kind == DecisionKind.PRIMARY and sampled_for_second_review(
        source, external_id, quality.share_for(policy)
    ):
        queue = second_review_queue(policy)
        return Settlement(
            "second_review",
            {"queue": queue, "status": ItemStatus.PENDING},
            detail={"second_review_queue": queue},
        )
    item, actions = _final(label, now)
    return Settlement("final", item, actions)
