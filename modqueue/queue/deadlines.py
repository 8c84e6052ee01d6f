"""Deadlines: mark items close to their SLA, escalate and raise the ones past it.

Every item has a `deadline_at` (flag time plus its policy's SLA) and a `deadline_state`:

| state      | meaning                                                     |
| ---------- | ----------------------------------------------------------- |
| `ok`       | more than `near` (a share of the SLA) is left                |
| `near`     | at most that share of the SLA is left                       |
| `breached` | the deadline has passed                                     |

`sweep_deadlines()` moves items along these states, one batch per call, in the caller's
transaction. A breached item gets the policy's full deadline points plus `boost` points
(part `overdue` of its priority breakdown), and a pending one moves to its policy's senior
queue. An item a reviewer holds is marked and raised but never taken away from them: it
moves to the senior queue once it is back in the queue undecided. Every change writes an
audit event (`deadline_near`, `deadline_breached`, `escalated`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, false, not_, or_, select, true
from sqlmodel import Session, col

from modqueue.guidelines import GuidelineSet
from modqueue.queue._audit.chain import AuditRecord, record_events
from modqueue.queue._core.models import Item
from modqueue.queue._core.routing import (
    SENIOR_SUFFIX,
    TRIAGE,
    is_senior_queue,
    policy_numbers,
    rescore_item,
    senior_queue,
)
from modqueue.queue._core.types import ItemStatus
from modqueue.sla import DeadlinesConfig

__all__ = ["DeadlineReport", "DeadlinesConfig", "sweep_deadlines"]

NEAR = "near"
BREACHED = "breached"
OK = "ok"


@dataclass(slots=True)
class DeadlineReport:
    """What a sweep changed: items newly near, newly breached, and escalated."""

    near: int = 0
    breached: int = 0
    escalated: int = 0

    @property
    def changed(self) -> int:
        """Items touched in any way."""
        return self.near + self.breached + self.escalated

    def add(self, other: DeadlineReport) -> None:
        """Add `other`'s counts to this report."""
        self.near += other.near
        self.breached += other.breached
        self.escalated += other.escalated

    def to_dict(self) -> dict[str, int]:
        """JSON-ready form."""
        return {"near": self.near, "breached": self.breached, "escalated": self.escalated}


def _near_condition(guidelines: GuidelineSet, share: float, now: datetime) -> Any:
    """Items whose deadline is within `share` of their own policy's SLA."""
    policy, deadline = col(Item.policy), col(Item.deadline_at)
    ids = list(guidelines.ids)
    per_policy = [
        and_(
            policy == gid,
            deadline <= now + timedelta(hours=policy_numbers(guidelines, gid)[1] * share),
        )
        for gid in ids
    ]
    fallback = timedelta(hours=policy_numbers(guidelines, None)[1] * share)
    other = or_(policy.is_(None), policy.not_in(ids)) if ids else true()
    return or_(*per_policy, and_(other, deadline <= now + fallback))


def _raise_priority(row: Item, guidelines: GuidelineSet, boost: float, now: datetime) -> None:
    priority, breakdown = rescore_item(guidelines, row, now=now)
    parts: dict[str, Any] = dict(breakdown["parts"])
    parts["overdue"] = {"input": {"boost": boost}, "share": 1.0, "points": boost}
    total = round(priority + boost, 3)
    row.priority = total
    row.priority_breakdown = {**breakdown, "parts": parts, "total": total}


def sweep_deadlines(
    session: Session,
    *,
    guidelines: GuidelineSet,
    now: datetime,
    config: DeadlinesConfig | None = None,
    actor: str = "scheduler",
) -> DeadlineReport:
    """Move up to `config.batch_size` undecided items along `ok` -> `near` -> `breached`.

    Returns what changed; call again while `changed` is non-zero to finish a backlog. On
    PostgreSQL the rows are locked with `FOR UPDATE SKIP LOCKED`, so concurrent sweeps
    (or a reviewer deciding an item) never wait on each other and never change an item
    twice.
    """
    cfg = config or DeadlinesConfig()
    open_status = col(Item.status).in_([ItemStatus.PENDING.value, ItemStatus.CLAIMED.value])
    state = col(Item.deadline_state)
    deadline = col(Item.deadline_at)
    wanted = or_(
        and_(state == OK, _near_condition(guidelines, cfg.near, now)),
        and_(state == NEAR, deadline <= now),
        and_(
            state == BREACHED,
            col(Item.status) == ItemStatus.PENDING.value,
            not_(col(Item.queue).like(f"%{SENIOR_SUFFIX}")),
        )
        if cfg.escalate
        else false(),
    )
    query = (
        select(Item)
        .where(open_status, wanted)
        .order_by(deadline, col(Item.id))
        .limit(cfg.batch_size)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    report = DeadlineReport()
    audit: list[AuditRecord] = []
    for row in session.scalars(query).all():
        assert row.id is not None
        if row.deadline_at > now:
            if row.deadline_state == OK:
                row.deadline_state = NEAR
                row.updated_at = now
                report.near += 1
                audit.append(
                    AuditRecord(
                        actor,
                        "deadline_near",
                        now,
                        row.id,
                        {"deadline_state": OK},
                        {"deadline_state": NEAR},
                        {"deadline_at": row.deadline_at.isoformat()},
                    )
                )
            continue
        if row.deadline_state != BREACHED:
            before = {"deadline_state": row.deadline_state, "priority": row.priority}
            row.deadline_state = BREACHED
            _raise_priority(row, guidelines, cfg.boost, now)
            row.updated_at = now
            report.breached += 1
            audit.append(
                AuditRecord(
                    actor,
                    "deadline_breached",
                    now,
                    row.id,
                    before,
                    {"deadline_state": BREACHED, "priority": row.priority},
                    {"deadline_at": row.deadline_at.isoformat()},
                )
            )
        if (
            cfg.escalate
            and row.status == ItemStatus.PENDING.value
            and not is_senior_queue(row.queue)
        ):
            target = senior_queue(row.policy or TRIAGE)
            audit.append(
                AuditRecord(
                    actor,
                    "escalated",
                    now,
                    row.id,
                    {"queue": row.queue},
                    {"queue": target},
                    {"reason": "deadline passed", "deadline_at": row.deadline_at.isoformat()},
                )
            )
            row.queue = target
            row.escalated = True
            row.updated_at = now
            report.escalated += 1
    session.flush()
    record_events(session, audit)
    return report
