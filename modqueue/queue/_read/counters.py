"""Item counts per queue and status from `queue_counter` (no scan of `item`)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select
from sqlmodel import Session, col

from modqueue.queue._core.counter_models import QueueCounter

__all__ = ["item_counts"]


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
