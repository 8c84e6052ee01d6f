"""Reversal: queue the opposite platform action when a decision is overturned.

`plan_reversals` is the one rule for what undoing an item's takedowns means; both
`reverse_decision` (the service, for a lead or a script) and an overturned appeal
(`_quality_flow`, inside the senior's decision) apply it, in the caller's transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session, col

from modqueue._exceptions import NotFound
from modqueue.guidelines import REVERSAL_OF, Action
from modqueue.queue._audit.chain import AuditRecord, record_events
from modqueue.queue._core.models import Item, OutboundAction, OutboundActionPublic
from modqueue.queue._core.types import ActionStatus

__all__ = ["ReversalPlan", "plan_reversals", "reverse_decision"]

REVERSIBLE = {a.value for a in REVERSAL_OF}
# Statuses of an original action that may have taken effect on the platform.
MAY_HAVE_TAKEN_EFFECT = {
    ActionStatus.PENDING,
    ActionStatus.SENT,
    ActionStatus.DONE,
    ActionStatus.FAILED,
}


@dataclass(slots=True)
class ReversalPlan:
    """What undoing an item's takedowns takes: actions to cancel before they are sent, and
    actions that may have taken effect, to be answered by their opposite."""

    cancel: list[OutboundAction] = field(default_factory=list)
    reverse: list[OutboundAction] = field(default_factory=list)


def plan_reversals(
    session: Session,
    *,
    item_id: int,
    keep_action: str | None = None,
    decision_id: int | None = None,
) -> ReversalPlan:
    """Sort item `item_id`'s takedown actions (not reversals themselves, not reversed yet)
    into those to cancel and those to reverse; rows are locked for the caller's update.

    - still `pending` and never attempted: cancel (nothing reached the platform);
    - `pending` with attempts, `sent`, `done`, or `failed` after at least one attempt:
      reverse (it may have taken effect);
    - `declined`, `cancelled`, or failed without any attempt: nothing to undo.

    Actions of kind `keep_action` stay as they are (the new decision wants the same);
    with `decision_id`, only that decision's actions are considered.
    """
    rows = list(
        session.scalars(
            select(OutboundAction)
            .where(col(OutboundAction.item_id) == item_id)
            .order_by(col(OutboundAction.id))
            .with_for_update()
        )
    )
    reversed_ids = {
        r.reverses_id
        for r in rows
        if r.reverses_id is not None and r.status != ActionStatus.CANCELLED
    }
    plan = ReversalPlan()
    for original in rows:
        if original.reverses_id is not None or original.id in reversed_ids:
            continue
        if decision_id is not None and original.decision_id != decision_id:
            continue
        if original.action not in REVERSIBLE or original.action == keep_action:
            continue
        if original.status == ActionStatus.PENDING and original.attempts == 0:
            plan.cancel.append(original)
        elif original.attempts > 0 and original.status in MAY_HAVE_TAKEN_EFFECT:
            plan.reverse.append(original)
    return plan


def reverse_decision(
    session: Session,
    *,
    item_id: int,
    reviewer: str,
    note: str,
    now: datetime,
    decision_id: int | None = None,
) -> list[OutboundActionPublic]:
    """Undo on the platform what the item's earlier takedown actions did.

    For each takedown action of item `item_id` (not itself a reversal, not yet reversed):

    - still `pending` and never attempted: it is cancelled (nothing reached the platform);
    - `pending` with attempts, `sent`, `done`, or `failed` after at least one attempt (it
      may have taken effect): the opposite action (`REVERSAL_OF`: restore,
      restore_and_unban, unrestrict, withdraw_referral) is queued as a new pending outbox
      row with its own idempotency key and `reverses_id` pointing at the original; the
      dispatcher sends it only once the original is no longer pending;
    - `declined`, `cancelled`, or failed without any attempt: nothing to undo.

    `decision_id` (optional) links the reversals to the decision that overturned the
    original (an appeal). `note` goes to the audit trail only, never to the platform.
    Calling it again queues nothing new. Returns the reversals queued; runs in the
    caller's transaction and appends one audit event per status change.
    """
    item = session.scalars(select(Item).where(col(Item.id) == item_id)).one_or_none()
    if item is None:
        raise NotFound(f"item {item_id} does not exist")
    plan = plan_reversals(session, item_id=item_id)
    queued: list[OutboundAction] = []
    events: list[AuditRecord] = []
    for original in plan.cancel:
        original.status = ActionStatus.CANCELLED
        original.last_error = "cancelled: decision reversed before sending"
        original.updated_at = now
        events.append(
            AuditRecord(
                actor=reviewer,
                event="action_cancelled",
                at=now,
                item_id=item_id,
                before={"status": ActionStatus.PENDING.value},
                after={"status": ActionStatus.CANCELLED.value},
                detail={"action_id": original.id, "reason": "reversed", "note": note},
            )
        )
    for original in plan.reverse:
        reversal = OutboundAction(
            item_id=item_id,
            decision_id=decision_id if decision_id is not None else original.decision_id,
            action=REVERSAL_OF[Action(original.action)],
            source=original.source,
            external_id=original.external_id,
            policy=original.policy,
            label=original.label,
            reason=f"Reversed on review: {original.reason}" if original.reason else "Reversed",
            idempotency_key=uuid.uuid4().hex,
            status=ActionStatus.PENDING,
            next_attempt_at=now,
            created_at=now,
            updated_at=now,
            reverses_id=original.id,
        )
        session.add(reversal)
        queued.append(reversal)
    session.flush()
    for reversal in queued:
        events.append(
            AuditRecord(
                actor=reviewer,
                event="action_queued",
                at=now,
                item_id=item_id,
                before=None,
                after={"status": ActionStatus.PENDING.value, "action": reversal.action},
                detail={
                    "action_id": reversal.id,
                    "reverses_id": reversal.reverses_id,
                    "decision_id": reversal.decision_id,
                    "note": note,
                },
            )
        )
    record_events(session, events)
    return [OutboundActionPublic.model_validate(r, from_attributes=True) for r in queued]
