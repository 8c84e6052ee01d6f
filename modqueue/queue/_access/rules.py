"""Authorization: who may do what, enforced in the domain for every entry point.

While the `reviewer` table is empty modqueue runs in **open mode**: every reviewer name is
trusted and everything is allowed (the queue core and early integrations use free-form
reviewer strings). Enforcement starts when the first reviewer is added, which must be an
admin; from then on unknown and disabled reviewers are refused everywhere.

A refusal raises `PermissionDenied` and appends an `access_denied` audit event. That event
is written in its own transaction once the caller's transaction has ended (rolled back,
usually, because of the exception), so the refusal is kept while the refused operation is
not. On SQLite a second writer cannot start while the caller's `BEGIN IMMEDIATE`
transaction is open, hence "after", not "beside".
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Connection,
    Engine,
    String,
    column,
    event,
    exists,
    select,
    text,
)
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import SessionTransaction
from sqlmodel import Session, col

from modqueue._exceptions import PermissionDenied
from modqueue.queue._access.models import ALL_POLICIES, Reviewer, Role
from modqueue.queue._audit.chain import AuditRecord, record_events
from modqueue.queue._core.db import WRITE_ENGINE
from modqueue.queue._core.routing import is_senior_queue, policy_of_queue
from modqueue.queue._core.types import utcnow

__all__ = [
    "LOOKUP_KEY",
    "OPEN_MODE_WARNING",
    "REVIEWER_COLUMNS",
    "REVIEWER_JOIN",
    "REVIEWER_TYPES",
    "UNIDENTIFIED",
    "Permission",
    "Principal",
    "access_summary",
    "authorize",
    "authorize_actor",
    "claim_allowed",
    "claimable_queues",
    "defer_audit",
    "find_reviewer",
    "is_open_mode",
    "policy_granted",
    "principal_from_rows",
    "queue_filter",
    "refusal",
    "refuse",
    "role_allows",
    "roles_with",
]

log = logging.getLogger("modqueue.access")

OPEN_MODE_WARNING = (
    "open mode: no reviewers are registered, so every --reviewer name is trusted and every "
    "operation is allowed. Enforcement starts when the first reviewer is added "
    "(`modqueue reviewers add NAME --role admin`)."
)
_DEFERRED_KEY = "modqueue_deferred_audit"
UNIDENTIFIED = "(unidentified)"
"""The audit actor of a call that named nobody."""


class Permission(StrEnum):
    """An operation that `authorize` checks."""

    CLAIM = "claim"
    DECIDE = "decide"
    ESCALATE = "escalate"
    RELEASE = "release"
    UNDO = "undo"
    VIEW_REPORTER = "view_reporter"
    VIEW_REVIEWER_FIGURES = "view_reviewer_figures"
    VIEW_AUDIT = "view_audit"
    MANAGE_REVIEWERS = "manage_reviewers"
    VIEW_DASHBOARD = "view_dashboard"
    VIEW_QUALITY = "view_quality"
    MANAGE_GOLD = "manage_gold"
    APPEAL = "appeal"
    VIEW_STATS = "view_stats"
    EXPORT = "export"
    VIEW_ACTIONS = "view_actions"
    RETRY_ACTIONS = "retry_actions"
    INGEST = "ingest"
    SETUP_LABELSTUDIO = "setup_labelstudio"
    SYNC_LABELSTUDIO = "sync_labelstudio"
    RUN_SERVICE = "run_service"
    MANAGE_MODELS = "manage_models"
    ERASE_PERSONAL_DATA = "erase_personal_data"
    LIFT_EXPOSURE = "lift_exposure"
    VIEW_PERSONAL_EXPOSURE = "view_personal_exposure"
    VIEW_REPORTS = "view_reports"
    MANAGE_FLOODS = "manage_floods"


# The least role on the ladder (reviewer < senior < lead < admin) for each permission the
# ladder has; queue work in a senior queue needs `senior`.
_MIN_ROLE = {
    Permission.CLAIM: Role.REVIEWER,
    Permission.DECIDE: Role.REVIEWER,
    Permission.ESCALATE: Role.REVIEWER,
    Permission.RELEASE: Role.REVIEWER,
    Permission.UNDO: Role.REVIEWER,
    Permission.VIEW_REPORTER: Role.LEAD,
    Permission.VIEW_REVIEWER_FIGURES: Role.LEAD,
    Permission.VIEW_AUDIT: Role.LEAD,
    Permission.MANAGE_REVIEWERS: Role.ADMIN,
    Permission.VIEW_DASHBOARD: Role.LEAD,
    Permission.VIEW_QUALITY: Role.REVIEWER,
    Permission.MANAGE_GOLD: Role.LEAD,
    Permission.APPEAL: Role.REVIEWER,
    Permission.VIEW_STATS: Role.REVIEWER,
    Permission.EXPORT: Role.LEAD,
    Permission.VIEW_ACTIONS: Role.LEAD,
    Permission.RETRY_ACTIONS: Role.LEAD,
    Permission.INGEST: Role.LEAD,
    Permission.SETUP_LABELSTUDIO: Role.LEAD,
    Permission.SYNC_LABELSTUDIO: Role.LEAD,
    Permission.MANAGE_MODELS: Role.LEAD,
    Permission.ERASE_PERSONAL_DATA: Role.ADMIN,
    Permission.LIFT_EXPOSURE: Role.LEAD,
    # Per-person exposure is health data in all but name: admins only, not leads.
    Permission.VIEW_PERSONAL_EXPOSURE: Role.ADMIN,
    Permission.VIEW_REPORTS: Role.LEAD,
    Permission.MANAGE_FLOODS: Role.LEAD,
}
# The roles off the ladder have only these.
_OFF_LADDER = {
    Role.ML: frozenset({Permission.EXPORT, Permission.VIEW_QUALITY}),
    Role.SERVICE: frozenset(
        {Permission.RUN_SERVICE, Permission.INGEST, Permission.SYNC_LABELSTUDIO}
    ),
}
_QUEUE_WORK = {
    Permission.CLAIM,
    Permission.DECIDE,
    Permission.ESCALATE,
    Permission.RELEASE,
    Permission.UNDO,
}
_WHAT = {
    Permission.CLAIM: "claim items",
    Permission.DECIDE: "decide items",
    Permission.ESCALATE: "escalate items",
    Permission.RELEASE: "hold or release items",
    Permission.UNDO: "undo decisions",
    Permission.VIEW_REPORTER: "see reporter data",
    Permission.VIEW_REVIEWER_FIGURES: "see per-reviewer figures",
    Permission.VIEW_AUDIT: "read the audit log",
    Permission.MANAGE_REVIEWERS: "manage reviewers",
    Permission.VIEW_DASHBOARD: "view the lead dashboard",
    Permission.VIEW_QUALITY: "see quality figures",
    Permission.MANAGE_GOLD: "manage or list gold items",
    Permission.LIFT_EXPOSURE: "lift a reviewer's exposure budget",
    Permission.VIEW_PERSONAL_EXPOSURE: "see other reviewers' exposure",
    Permission.MANAGE_FLOODS: "see and act on flood incidents",
    Permission.APPEAL: "open appeals",
    Permission.VIEW_STATS: "see queue statistics",
    Permission.EXPORT: "export labelled data",
    Permission.VIEW_ACTIONS: "list outbound actions",
    Permission.RETRY_ACTIONS: "retry outbound actions",
    Permission.INGEST: "ingest items",
    Permission.SETUP_LABELSTUDIO: "set up Label Studio projects",
    Permission.SYNC_LABELSTUDIO: "push to or pull from Label Studio",
    Permission.RUN_SERVICE: "run a service process (serve, actions dispatch)",
    Permission.MANAGE_MODELS: "train, activate or retire models",
    Permission.VIEW_REPORTS: "produce referral, statement and transparency reports",
    Permission.ERASE_PERSONAL_DATA: "erase a person's data",
}


def role_allows(role: Role, permission: Permission) -> bool:
    """True when `role` has `permission` (queue work also needs the policy granted)."""
    if role in _OFF_LADDER:
        return permission in _OFF_LADDER[role]
    least = _MIN_ROLE.get(permission)
    return least is not None and role.rank >= least.rank


def roles_with(permission: Permission) -> str:
    """Who has `permission`, for messages and docs: `lead or above, or ml`."""
    least = _MIN_ROLE.get(permission)
    parts = [f"{least} or above"] if least is not None else []
    parts += [str(role) for role, allowed in _OFF_LADDER.items() if permission in allowed]
    return ", or ".join(parts)


@dataclass(frozen=True, slots=True)
class Principal:
    """The parts of a reviewer record that authorization looks at."""

    name: str
    role: str
    policies: Sequence[str]
    disabled: bool


# Who is acting, and whether anyone is registered (open mode), in one query: the row of
# `name` and the first reviewer's row. `modqueue.queue._transaction` puts the same columns
# and join into a transaction's first statement (`LOOKUP_KEY`).
REVIEWER_COLUMNS = "r.name, r.role, r.policies, r.disabled"
REVIEWER_JOIN = "LEFT JOIN reviewer AS r ON r.name = :name OR r.id = (SELECT min(id) FROM reviewer)"
REVIEWER_TYPES = (
    column("name", String),
    column("role", String),
    column("policies", JSON),
    column("disabled", Boolean),
)
LOOKUP_KEY = "modqueue_reviewer_lookup"  # Session.info: a `ReviewerLookup` to use instead
ReviewerLookup = Callable[[Session, str], tuple["Principal | None", bool]]
_LOOKUP = text(f"SELECT {REVIEWER_COLUMNS} FROM (SELECT 1) AS one {REVIEWER_JOIN}").columns(
    *REVIEWER_TYPES
)


def principal_from_rows(found: Sequence[Any], name: str) -> tuple[Principal | None, bool]:
    """`(the reviewer called name or None, open mode?)` from the rows of a lookup."""
    for row in found:
        if row.name == name:
            return Principal(
                row.name, row.role, list(row.policies or []), bool(row.disabled)
            ), False
    return None, all(row.name is None for row in found)


def _lookup(session: Session, name: str) -> tuple[Principal | None, bool]:
    """`(the reviewer called name or None, open mode?)` in one prebuilt query, or by the
    lookup the session's opener installed (`LOOKUP_KEY`)."""
    installed: ReviewerLookup | None = session.info.get(LOOKUP_KEY)
    if installed is not None:
        return installed(session, name)
    return principal_from_rows(session.connection().execute(_LOOKUP, {"name": name}).all(), name)


def is_open_mode(session: Session) -> bool:
    """True while no reviewer is registered (everything is allowed)."""
    return not session.scalar(select(exists().where(col(Reviewer.id).is_not(None))))


def find_reviewer(session: Session, name: str) -> Reviewer | None:
    """The reviewer record called `name`, if any."""
    return session.scalars(select(Reviewer).where(col(Reviewer.name) == name)).one_or_none()


def policy_granted(reviewer: Reviewer | Principal, policy: str) -> bool:
    """True when `reviewer` may work `policy` (`*` grants every policy)."""
    return ALL_POLICIES in reviewer.policies or policy in reviewer.policies


def access_summary(session: Session) -> dict[str, Any]:
    """`{"mode": "open"|"enforced", "reviewers": N, "warning": str|None}` for stats."""
    count = len(list(session.scalars(select(col(Reviewer.id)))))
    if count == 0:
        return {"mode": "open", "reviewers": 0, "warning": OPEN_MODE_WARNING}
    return {"mode": "enforced", "reviewers": count, "warning": None}


# -- deferred audit events ----------------------------------------------------------------


def _engine_of(session: Session) -> Engine:
    primary = session.info.get(WRITE_ENGINE)
    if isinstance(primary, Engine):
        return primary  # a read session on a replica: write to the primary
    bind = session.get_bind()
    return bind.engine if isinstance(bind, Connection) else bind


def defer_audit(session: Session, record: AuditRecord) -> None:
    """Append `record` in a transaction of its own once `session`'s transaction ends.

    For events that must survive the caller's rollback (refusals, failed logins).
    """
    pending: list[tuple[Engine, AuditRecord]] = session.info.setdefault(_DEFERRED_KEY, [])
    pending.append((_engine_of(session), record))


@event.listens_for(OrmSession, "after_transaction_end")
def _write_deferred(session: OrmSession, transaction: SessionTransaction) -> None:
    if transaction.parent is not None or not session.info.get(_DEFERRED_KEY):
        return
    pending: list[tuple[Engine, AuditRecord]] = session.info.pop(_DEFERRED_KEY)
    by_engine: dict[Engine, list[AuditRecord]] = {}
    for engine, record in pending:
        by_engine.setdefault(engine, []).append(record)
    for engine, records in by_engine.items():
        try:
            with Session(engine) as own, own.begin():
                record_events(own, records)
        except Exception:  # the refusal itself must still reach the caller
            log.exception("could not write %d deferred audit event(s)", len(records))


def refuse(
    session: Session,
    message: str,
    *,
    actor: str,
    event_name: str = "access_denied",
    item_id: int | None = None,
    detail: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> PermissionDenied:
    """Record a refusal (audited after the transaction) and return the error to raise."""
    defer_audit(
        session,
        AuditRecord(
            actor=actor,
            event=event_name,
            at=now or utcnow(),
            item_id=item_id,
            detail={**(detail or {}), "reason": message},
        ),
    )
    return PermissionDenied(message)


# -- authorize ----------------------------------------------------------------------------


def _queues_text(queues: Iterable[str]) -> str:
    return ", ".join(sorted(queues)) or "none"


def authorize(
    session: Session,
    *,
    reviewer: str,
    permission: Permission,
    policy: str | None = None,
    queue: str | None = None,
    item_id: int | None = None,
    now: datetime | None = None,
    detail: dict[str, Any] | None = None,
    audit: bool = True,
    hint: str = "",
) -> Principal | None:
    """Allow `reviewer` to do `permission` (on `policy`, or on an item in `queue`).

    Returns what authorization knows of the reviewer, or None in open mode. Raises
    `PermissionDenied` with a message saying what is missing, and audits the refusal in
    its own transaction, with `detail` added to the event's detail (`audit=False` only
    raises: for a caller that has already recorded this very refusal). Queue
    work (`claim`, `decide`, `escalate`, `release`, `undo`) needs the policy granted and,
    in a senior queue, the `senior` role or above; the other permissions need a role:
    `lead` to see reporter data, per-reviewer figures, the audit log or the lead
    dashboard and to manage gold items, `admin` to manage reviewers. `hint`, when given,
    ends a refusal's message (what to do instead).
    """
    record, open_mode = _lookup(session, reviewer)
    if open_mode:
        return None
    if queue is not None and policy is None:
        policy = policy_of_queue(queue)
    message = refusal(record, reviewer=reviewer, permission=permission, policy=policy, queue=queue)
    if message is None:
        return record
    context: dict[str, Any] = {**(detail or {}), "permission": permission.value}
    if policy is not None:
        context["policy"] = policy
    if queue is not None:
        context["queue"] = queue
    message = f"{message}; {hint}" if hint else message
    if not audit:
        raise PermissionDenied(message)
    raise refuse(session, message, actor=reviewer, item_id=item_id, detail=context, now=now)


def refusal(
    record: Principal | None,
    *,
    reviewer: str,
    permission: Permission,
    policy: str | None = None,
    queue: str | None = None,
) -> str | None:
    """Why `authorize` refuses `reviewer` (whose record is `record`, outside open mode)
    `permission` on `policy` (given, or the policy of `queue`), or None: it is allowed.
    Reads nothing and audits nothing."""
    if queue is not None and policy is None:
        policy = policy_of_queue(queue)
    if record is None:
        return (
            f"reviewer {reviewer!r} is not registered: an admin adds them with "
            f"`modqueue reviewers add {reviewer}`"
        )
    if record.disabled:
        return f"reviewer {reviewer!r} is disabled"
    role = Role(record.role)
    senior = queue is not None and is_senior_queue(queue)
    needs = roles_with(permission)
    allowed = role_allows(role, permission)
    if allowed and permission in _QUEUE_WORK and senior and permission != Permission.UNDO:
        needs = f"{Role.SENIOR} or above"
        allowed = role.rank >= Role.SENIOR.rank
    if not allowed:
        where = f" in the senior queue {queue!r}" if senior else ""
        return (
            f"reviewer {reviewer!r} (role {role}) may not {_WHAT[permission]}{where}: "
            f"that needs role {needs}"
        )
    if permission in _QUEUE_WORK and policy is not None and not policy_granted(record, policy):
        return (
            f"reviewer {reviewer!r} is not granted policy {policy!r} "
            f"(granted: {_queues_text(record.policies)}); an admin can run "
            f"`modqueue reviewers grant {reviewer} --policy {policy}`"
        )
    return None


def claim_allowed(
    record: Principal | None, open_mode: bool, *, reviewer: str, queues: Sequence[str] | None
) -> tuple[bool, list[str] | None]:
    """`(allowed, queues)`: whether `claim_next` lets `reviewer` (`record`, from a lookup
    with `open_mode`) claim from `queues` (None: by default), and the queues it then
    takes from (`claimable_queues`), as `authorize` decides it; reads and audits
    nothing (a refused claim is refused, and audited, by `authorize` itself)."""
    if open_mode:
        return True, list(queues) if queues else None
    if queues:
        for name in queues:
            if refusal(record, reviewer=reviewer, permission=Permission.CLAIM, queue=name):
                return False, None
        return True, list(queues)
    if refusal(record, reviewer=reviewer, permission=Permission.CLAIM):
        return False, None
    chosen = claimable_queues(record)
    return (chosen is None or bool(chosen)), chosen


def claimable_queues(reviewer: Principal | None) -> list[str] | None:
    """The queues `claim_next` may take from by default: None for every non-senior
    queue, else the reviewer's granted policies (triage included when granted)."""
    if reviewer is None or ALL_POLICIES in reviewer.policies:
        return None
    return sorted(set(reviewer.policies))


def authorize_actor(
    session: Session,
    *,
    actor: str | None,
    permission: Permission,
    doing: str | None = None,
    now: datetime | None = None,
    hint: str = "",
    how: str = "pass --reviewer (with --token)",
) -> str:
    """The name to record for `actor` doing `permission`, or `PermissionDenied`, audited
    as `access_denied`.

    `actor` is a name the entry point has verified (token or operating-system user), or
    None when nobody was named: allowed in open mode (recorded as `UNIDENTIFIED`), refused
    once reviewers are registered, with `doing` (what was attempted, default: the
    permission's own words) and `how` (how to name oneself) in the message. `hint` ends a
    refusal's message.
    """
    if actor is None:
        if is_open_mode(session):
            return UNIDENTIFIED
        what = doing or f"to {_WHAT[permission]}"
        message = (
            f"{what} needs a registered reviewer: {how}"
            if doing
            else f"a registered reviewer is needed {what}: {how}"
        )
        raise refuse(
            session,
            message + (f"; {hint}" if hint else ""),
            actor=UNIDENTIFIED,
            detail={"permission": permission.value},
            now=now,
        )
    authorize(session, reviewer=actor, permission=permission, now=now, hint=hint)
    return actor


def queue_filter(session: Session, *, reviewer: str) -> Callable[[str], bool]:
    """A test of which queues `reviewer` may work (claim in): the policy granted, and a
    senior queue only for seniors and above; every queue in open mode, none for an
    unknown or disabled reviewer or a role without queue work (`ml`, `service`)."""
    record, open_mode = _lookup(session, reviewer)
    if open_mode:
        return lambda _queue: True
    if record is None or record.disabled:
        return lambda _queue: False
    role = Role(record.role)
    principal = record

    def may_work(queue: str) -> bool:
        if not role_allows(role, Permission.CLAIM):
            return False
        if is_senior_queue(queue) and role.rank < Role.SENIOR.rank:
            return False
        return policy_granted(principal, policy_of_queue(queue))

    return may_work
