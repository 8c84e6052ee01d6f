"""Queue health in numbers: depths, deadlines, escalations, action outcomes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session, col

from modqueue.queue._core.models import Item, OutboundAction
from modqueue.queue._core.routing import is_senior_queue
from modqueue.queue._core.types import ActionStatus, ItemStatus

__all__ = ["past_deadline_by_queue", "queue_stats"]


def past_deadline_by_queue(session: Session, *, now: datetime) -> dict[str, int]:
    """How many open (pending or claimed) items of each queue are past their deadline."""
    rows = session.execute(
        select(col(Item.queue), func.count())
        .where(
            col(Item.status).in_([ItemStatus.PENDING, ItemStatus.CLAIMED]),
            col(Item.deadline_at) < now,
        )
        .group_by(col(Item.queue))
    )
    return {queue: int(count) for queue, count in rows}


def queue_stats(session: Session, *, now: datetime) -> dict[str, Any]:
    """Counts per status and per queue, oldest pending age, deadline breaches, actions.

    Keys: `pending`, `claimed`, `decided`, `escalated` (waiting in senior queues),
    `past_deadline`, `by_queue` (per queue: the same counts and `oldest_pending_seconds`)
    and `actions` (outbound actions per status).
    """
    by_queue: dict[str, dict[str, Any]] = {}
    rows = session.execute(
        select(
            col(Item.queue),
            col(Item.status),
            func.count(),
            func.min(col(Item.ingested_at)),
        ).group_by(col(Item.queue), col(Item.status))
    ).all()
    for queue, status, count, oldest in rows:
        entry = by_queue.setdefault(
            queue,
            {
                "pending": 0,
                "claimed": 0,
                "decided": 0,
                "past_deadline": 0,
                "oldest_pending_seconds": None,
            },
        )
        entry[status] = count
        if status == ItemStatus.PENDING and oldest is not None:
            if isinstance(oldest, str):  # SQLite aggregates bypass the column type
                oldest = datetime.fromisoformat(oldest)
            if oldest.tzinfo is None:
                oldest = oldest.replace(tzinfo=now.tzinfo)
            entry["oldest_pending_seconds"] = round((now - oldest).total_seconds())
    for queue, count in past_deadline_by_queue(session, now=now).items():
        by_queue[queue]["past_deadline"] = count
    actions = {s.value: 0 for s in ActionStatus}
    for status, count in session.execute(
        select(col(OutboundAction.status), func.count()).group_by(col(OutboundAction.status))
    ):
        actions[status] = count
    totals = {
        key: sum(int(q[key]) for q in by_queue.values())
        for key in ("pending", "claimed", "decided", "past_deadline")
    }
    escalated = sum(
        int(q["pending"]) + int(q["claimed"])
        for name, q in by_queue.items()
        if is_senior_queue(name)
    )
    return {
        **totals,
        "escalated": escalated,
        "by_queue": dict(sorted(by_queue.items())),
        "actions": actions,
    }
