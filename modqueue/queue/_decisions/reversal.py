"""Reversal: what undoing an item's takedowns takes.

`plan_reversals` is the one rule for what undoing an item's takedowns means. It only reads
(and locks) the outbox rows; the pipeline applies the plan: `pipeline.reverse_decision`
(the service, for a lead or a script), an overturned appeal (`settlement.settle`) and a
superseded Label Studio annotation (`pipeline.supersede_decision`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from modqueue.guidelines import REVERSAL_OF
from modqueue.queue._core.models import OutboundAction
from modqueue.queue._core.types import ActionStatus

__all__ = ["ReversalPlan", "RowPlan", "plan_reversals", "plan_rows"]

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
    plan = ReversalPlan()
    plan.cancel, plan.reverse = _sort(
        rows, lambda a, k: getattr(a, k), keep_action=keep_action, decision_id=decision_id
    )
    return plan


@dataclass(slots=True)
class RowPlan:
    """`ReversalPlan` over outbox rows read as mappings (set-based callers)."""

    cancel: list[Mapping[Any, Any]] = field(default_factory=list)
    reverse: list[Mapping[Any, Any]] = field(default_factory=list)


def plan_rows(
    rows: Sequence[Mapping[Any, Any]],
    *,
    keep_action: str | None = None,
    decision_id: int | None = None,
) -> RowPlan:
    """The rule of `plan_reversals` over one item's outbox rows already read and locked
    by the caller (a set-based reversal reads every member's rows in a few statements)."""
    plan = RowPlan()
    plan.cancel, plan.reverse = _sort(
        sorted(rows, key=lambda r: r["id"]),
        lambda a, k: a[k],
        keep_action=keep_action,
        decision_id=decision_id,
    )
    return plan


def _sort(
    rows: Sequence[Any],
    get: Any,
    *,
    keep_action: str | None,
    decision_id: int | None,
) -> tuple[list[Any], list[Any]]:
    reversed_ids = {
        get(r, "reverses_id")
        for r in rows
        if get(r, "reverses_id") is not None and get(r, "status") != ActionStatus.CANCELLED
    }
    cancel: list[Any] = []
    reverse: list[Any] = []
    for original in rows:
        if get(original, "reverses_id") is not None or get(original, "id") in reversed_ids:
            continue
        if decision_id is not None and get(original, "decision_id") != decision_id:
            continue
        action = get(original, "action")
        if action not in REVERSIBLE or action == keep_action:
            continue
        status, attempts = get(original, "status"), get(original, "attempts")
        if status == ActionStatus.PENDING and attempts == 0:
            cancel.append(original)
        elif attempts > 0 and status in MAY_HAVE_TAKEN_EFFECT:
            reverse.append(original)
    return cancel, reverse
