"""Appeals: a decided item goes back to its senior queue for a *different* senior.

The senior who takes it (anyone without a standing decision on the item, see
`modqueue.queue` claiming) decides it like any senior item; the decision is recorded
with kind `appeal` and closes the appeal as `upheld` (same label) or `overturned`.
An overturn cancels the earlier takedown if it was never sent, or queues its reverse
action (`REVERSAL_OF`) with `reverses_id` pointing at it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session, col

from modqueue._exceptions import InvalidState, NotFound
from modqueue.guidelines import Action
from modqueue.quality._guard import authorize_actor
from modqueue.queue import (
    Appeal,
    AppealPublic,
    Decision,
    DecisionStatus,
    Item,
    ItemStatus,
    Permission,
    open_appeal_for,
    policy_of_queue,
    record_event,
    senior_queue,
)

__all__ = ["list_appeals", "open_appeal"]


def open_appeal(
    session: Session, *, item_id: int, note: str, actor: str | None, now: datetime
) -> AppealPublic:
    """Reopen decided item `item_id` in its policy's senior queue as an appeal.

    The item keeps its current label (and its action stays in force) until a senior
    decides the appeal. `actor` must be a registered reviewer once reviewers exist
    (`PermissionDenied` otherwise, audited). Raises `InvalidState` when the item is not
    decided, already under appeal, or `note` is empty.
    """
    actor = authorize_actor(
        session, actor=actor, permission=Permission.APPEAL, doing="opening an appeal", now=now
    )
    if not note.strip():
        raise InvalidState("an appeal needs a note saying why")
    item = session.scalars(select(Item).where(col(Item.id) == item_id).with_for_update()).first()
    if item is None:
        raise NotFound(f"item {item_id} does not exist")
    if open_appeal_for(session, item_id) is not None:
        raise InvalidState(f"item {item_id} is already under appeal")
    if item.status != ItemStatus.DECIDED or item.final_label is None:
        raise InvalidState(f"item {item_id} is {item.status}, not decided: nothing to appeal")
    final = session.scalars(
        select(Decision)
        .where(
            col(Decision.item_id) == item_id,
            col(Decision.status) == DecisionStatus.ACTIVE,
            col(Decision.label) == item.final_label,
            col(Decision.action) != Action.ESCALATE.value,
        )
        .order_by(col(Decision.id).desc())
        .limit(1)
    ).one_or_none()
    if final is None or final.id is None:
        raise InvalidState(f"item {item_id} has no standing decision for {item.final_label!r}")
    appeal = Appeal(
        item_id=item_id,
        note=note,
        opened_by=actor,
        opened_at=now,
        appealed_decision_id=final.id,
        appealed_reviewer=final.reviewer,
        appealed_label=final.label,
    )
    session.add(appeal)
    before = {"status": item.status, "queue": item.queue}
    item.queue = senior_queue(item.policy or policy_of_queue(item.queue))
    item.status = ItemStatus.PENDING
    item.escalated = True
    item.updated_at = now
    session.flush()
    record_event(
        session,
        actor=actor,
        event="appealed",
        at=now,
        item_id=item_id,
        before=before,
        after={"status": item.status, "queue": item.queue},
        detail={"appeal_id": appeal.id, "decision_id": final.id, "note": note},
    )
    return AppealPublic.model_validate(appeal, from_attributes=True)


def list_appeals(
    session: Session,
    *,
    status: str | None = None,
    actor: str | None = None,
    now: datetime | None = None,
) -> list[AppealPublic]:
    """Appeals, newest first, optionally only those with `status`.

    Each names the reviewer appealed and the outcome, a per-reviewer figure: leads and
    above only once reviewers are registered (`PermissionDenied` otherwise, audited).
    """
    authorize_actor(
        session,
        actor=actor,
        permission=Permission.VIEW_REVIEWER_FIGURES,
        doing="listing appeals",
        now=now,
    )
    query = select(Appeal).order_by(col(Appeal.id).desc())
    if status:
        query = query.where(col(Appeal.status) == status)
    return [AppealPublic.model_validate(a, from_attributes=True) for a in session.scalars(query)]
