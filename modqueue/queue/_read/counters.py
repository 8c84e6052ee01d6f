"""Item counts per queue and status from `queue_counter` (no scan of `item`), and
outbound action counts per policy and status from `action_counter`."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select
from sqlmodel import Session, col

from modqueue.queue._core.counter_models import ActionCounter, QueueCounter

__all__ = ["action_counts", "item_counts"]


def item_counts(
    session: Session, *, statuses: Iterable[str] | None = None
) -> dict[tuple[str, str], int]:
    """`{(queue, status): items}` for every queue and status holding at least one item
    (only `statuses`, when given), read from the counters the database keeps."""
    query = select(col(QueueCounter.queue), col(QueueCounter.status), func.sum(QueueCounter.n))
    if statuses is not None:
        query = query.where(col(QueueCounter.status).in_(list(statuses)))
    rows = session.execute(query.group_by(col(QueueCounter.queue), col(QueueCounter.status)))
    return {(queue, status): int(n) for queue, status, n in rows if n}


def action_counts(session: Session) -> dict[tuple[str, str], int]:
    """`{(policy, status): outbound actions}` for every policy and status holding at
    least one action, read from the counters the database keeps (no scan of
    `outbound_action`)."""
    rows = session.execute(
        select(
            col(ActionCounter.policy), col(ActionCounter.status), func.sum(ActionCounter.n)
        ).group_by(col(ActionCounter.policy), col(ActionCounter.status))
    )
    return {(policy, status): int(n) for policy, status, n in rows if n}
