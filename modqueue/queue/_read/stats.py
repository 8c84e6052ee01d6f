"""Queue health in numbers: depths, deadlines, escalations, action outcomes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session, col

from modqueue.queue._core.models import Item, OutboundAction
from modqueue.queue._core.routing import is_senior_queue
from modqueue.queue._core.types import ActionStatus, ItemStatus
from modqueue.queue._read.counters import item_counts

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


def _age_seconds(at: datetime | str | None, now: datetime) -> int | None:
    if at is None:
        return None
    if isinstance(at, str):  # SQLite aggregates bypass the column type
        at = datetime.fromisoformat(at)
    if at.tzinfo is None:
        at = at.replace(tzinfo=now.tzinfo)
    return round((now - at).total_seconds())


def queue_stats(session: Session, *, now: datetime) -> dict[str, Any]:
    """Counts per status and per queue, oldest pending age, deadline breaches, actions.

    Keys: `pending`, `claimed`, `decided`, `escalated` (waiting in senior queues),
    `past_deadline` (pending or claimed past `deadline_at`: flag time plus SLA), `by_queue`
    (per queue: the same counts, `oldest_pending_seconds`, the longest a pending item has
    waited since ingest, and `oldest_flagged_seconds`, the age of its oldest pending flag:
    the clock its deadlines run on) and `actions` (outbound actions per status).
    """
    by_queue: dict[str, dict[str, Any]] = {}
    for (queue, status), count in sorted(item_counts(session).items()):
        entry = by_queue.setdefault(
            queue,
            {
                "pending": 0,
                "claimed": 0,
                "decided": 0,
                "past_deadline": 0,
                "oldest_pending_seconds": None,
                "oldest_flagged_seconds": None,
            },
        )
        entry[status] = count
    # The ages come from the pending rows only (the partial indexes' rows).
    for queue, oldest, oldest_flag in session.execute(
        select(
            col(Item.queue),
            func.min(col(Item.ingested_at)),
            func.min(func.coalesce(col(Item.flagged_at), col(Item.ingested_at))),
        )
        .where(col(Item.status) == ItemStatus.PENDING)
        .group_by(col(Item.queue))
    ):
        if queue in by_queue:
            by_queue[queue]["oldest_pending_seconds"] = _age_seconds(oldest, now)
            by_queue[queue]["oldest_flagged_seconds"] = _age_seconds(oldest_flag, now)
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
