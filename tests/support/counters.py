"""Queue and outbound action counters against a full recount, for the tests that check
`queue_counter` and `action_counter`."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlmodel import col

from modqueue.queue import ActionCounter, Item, OutboundAction, QueueCounter, ReviewQueue


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


def action_recount(q: ReviewQueue) -> dict[tuple[str, str], int]:
    """Outbound actions per `(policy, status)`, counted from `outbound_action` itself."""
    with q.session() as s:
        rows = s.execute(
            select(col(OutboundAction.policy), col(OutboundAction.status), func.count()).group_by(
                col(OutboundAction.policy), col(OutboundAction.status)
            )
        )
        return {(policy, status): int(n) for policy, status, n in rows}


def action_counters(q: ReviewQueue) -> dict[tuple[str, str], int]:
    """Outbound actions per `(policy, status)` as `action_counter` keeps them (zero slots
    left out)."""
    with q.session() as s:
        rows = s.execute(
            select(
                col(ActionCounter.policy), col(ActionCounter.status), func.sum(ActionCounter.n)
            ).group_by(col(ActionCounter.policy), col(ActionCounter.status))
        )
        return {(policy, status): int(n) for policy, status, n in rows if n}
