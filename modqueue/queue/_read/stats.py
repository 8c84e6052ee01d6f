"""Queue health in numbers: depths, deadlines, escalations, action outcomes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, literal_column, select
from sqlmodel import Session, col

from modqueue.queue._core.counter_models import QueueCounter
from modqueue.queue._core.models import Item
from modqueue.queue._core.routing import is_senior_queue
from modqueue.queue._core.types import ActionStatus
from modqueue.queue._read.counters import action_counts, item_counts

__all__ = ["oldest_pending", "past_deadline_by_queue", "queue_stats"]


# Literals, not bound parameters: only then can the planners use the partial indexes of
# migration 0021 (SQLite never does with a parameter).
_OPEN: tuple[Any, ...] = (literal_column("'pending'"), literal_column("'claimed'"))
_PENDING: Any = literal_column("'pending'")


def past_deadline_by_queue(session: Session, *, now: datetime) -> dict[str, int]:
    """How many open (pending or claimed) items of each queue are past their deadline.

    Counted as the open items of the queue (`queue_counter`) minus those whose deadline
    is still ahead (`ix_item_open_deadline`, which holds only open items: the read is
    as long as the items still inside their SLA, not the backlog), in one statement, so
    both parts see the same snapshot.
    """
    open_items = (
        select(col(QueueCounter.queue).label("queue"), func.sum(QueueCounter.n).label("n"))
        .where(col(QueueCounter.status).in_(_OPEN))
        .group_by(col(QueueCounter.queue))
        .subquery()
    )
    ahead = (
        select(col(Item.queue).label("queue"), func.count().label("n"))
        .where(col(Item.status).in_(_OPEN), col(Item.deadline_at) >= now)
        .group_by(col(Item.queue))
        .subquery()
    )
    rows = session.execute(
        select(open_items.c.queue, open_items.c.n - func.coalesce(ahead.c.n, 0)).outerjoin(
            ahead, ahead.c.queue == open_items.c.queue
        )
    )
    return {queue: int(count) for queue, count in rows if count}


def oldest_pending(session: Session) -> dict[str, tuple[Any, Any]]:
    """Per queue holding pending items: the earliest `ingested_at` and the earliest flag
    time (`flagged_at`, else `ingested_at`) among them.

    Each is the first entry of the queue's range in a partial index over pending items
    (`ix_item_pending_ingested`, `ix_item_pending_flagged`), for the queues the counters
    say hold pending items: two index probes per queue, whatever the backlog.
    """
    queues = (
        select(col(QueueCounter.queue).label("queue"))
        .where(col(QueueCounter.status) == _PENDING)
        .group_by(col(QueueCounter.queue))
        .having(func.sum(QueueCounter.n) > 0)
        .subquery()
    )
    flag = func.coalesce(col(Item.flagged_at), col(Item.ingested_at))

    def first(column: Any) -> Any:
        return (
            select(column)
            .where(col(Item.status) == _PENDING, col(Item.queue) == queues.c.queue)
            .order_by(column)
            .limit(1)
            .scalar_subquery()
        )

    rows = session.execute(select(queues.c.queue, first(col(Item.ingested_at)), first(flag)))
    return {queue: (oldest, flagged) for queue, oldest, flagged in rows}


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
    for queue, (oldest, oldest_flag) in oldest_pending(session).items():
        if queue in by_queue:
            by_queue[queue]["oldest_pending_seconds"] = _age_seconds(oldest, now)
            by_queue[queue]["oldest_flagged_seconds"] = _age_seconds(oldest_flag, now)
    for queue, count in past_deadline_by_queue(session, now=now).items():
        by_queue[queue]["past_deadline"] = count
    actions = {s.value: 0 for s in ActionStatus}
    for (_, status), count in action_counts(session).items():
        actions[status] = actions.get(status, 0) + count
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
