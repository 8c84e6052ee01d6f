"""Appeals: a decided item goes back to its senior queue for a *different* senior.

The decision pipeline moves the item (`modqueue.queue.reopen_for_appeal`). The senior who
takes it (anyone without a standing decision on the item, see `modqueue.queue` claiming)
decides it like any senior item; the decision is recorded with kind `appeal` and closes
the appeal as `upheld` (same label) or `overturned`. An overturn cancels the earlier
takedown if it was never sent, or queues its reverse action (`REVERSAL_OF`) with
`reverses_id` pointing at it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session, col

from modqueue.quality._guard import authorize_actor
from modqueue.queue import Appeal, AppealPublic, Permission, reopen_for_appeal

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
    appeal = reopen_for_appeal(session, item_id=item_id, note=note, actor=actor, now=now)
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
