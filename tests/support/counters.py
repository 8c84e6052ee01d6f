"""Queue counters against a full recount, for the tests that check `queue_counter`."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlmodel import col

from modqueue.queue import Item, QueueCounter, ReviewQueue


def recount(q: ReviewQueue) -> dict[tuple[str, str], int]:
    """Items per `(queue, status)`, counted from `item` itself."""
    with q.session() as s:
        rows = s.execute(
            select(col(Item.queue), col(Item.status), func.count()).group_by(
                col(Item.queue), col(Item.status)
            )
        )
        return {(queue, status): int(n) for queue, status, n in rows}


def counters(q: ReviewQueue) -> dict[tuple[str, str], int]:
    """Items per `(queue, status)` as `queue_counter` keeps them (zero slots left out)."""
    with q.session() as s:
        rows = s.execute(
            select(
                col(QueueCounter.queue), col(QueueCounter.status), func.sum(QueueCounter.n)
            ).group_by(col(QueueCounter.queue), col(QueueCounter.status))
        )
        return {(queue, status): int(n) for queue, status, n in rows if n}
