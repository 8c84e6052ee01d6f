"""Who may use the quality services: the acting reviewer, checked like everywhere else.

Per-reviewer figures (agreement of reviewer pairs, gold accuracy per reviewer, who was
appealed) are for leads and above; so are gold items themselves, since a reviewer who
knows which items are gold is no longer measured blind. Aggregate figures are for every
reviewer and the `ml` role. In open mode everyone may.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from modqueue.queue import UNIDENTIFIED, Permission
from modqueue.queue import authorize_actor as _authorize_actor

__all__ = ["UNIDENTIFIED", "authorize_actor"]


def authorize_actor(
    session: Session,
    *,
    actor: str | None,
    permission: Permission,
    doing: str,
    now: datetime | None = None,
    hint: str = "",
) -> str:
    """The name to record for `actor` doing `permission` (`doing` says what, for the
    error; `hint` ends a refusal's message), or `PermissionDenied`, audited as
    `access_denied`.

    In open mode anyone may, and no actor is recorded as `UNIDENTIFIED`. Once reviewers
    are registered the actor must be a verified reviewer (the entry point checks the
    token) with the role `permission` needs (`modqueue.queue.authorize_actor`).
    """
    return _authorize_actor(
        session, actor=actor, permission=permission, doing=doing, now=now, hint=hint
    )
