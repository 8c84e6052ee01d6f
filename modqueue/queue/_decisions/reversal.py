"""Reversal: what undoing an item's takedowns takes.

`plan_reversals` is the one rule for what undoing an item's takedowns means. It only reads
(and locks) the outbox rows; the pipeline applies the plan: `pipeline.reverse_decision`
(the service, for a lead or a script), an overturned appeal (`settlement.settle`) and a
superseded Label Studio annotation (`pipeline.supersede_decision`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlmodel import Session, col

from modqueue.guidelines import REVERSAL_OF
from modqueue.queue._core.models import OutboundAction
from modqueue.queue._core.types import ActionStatus

__all__ = ["ReversalPlan", "plan_reversals"]

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
