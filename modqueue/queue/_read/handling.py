"""The exact median handling time per queue over a window of decisions, read through the
handling-time counters (`decision_handling`) and only the decisions of the middle bucket.

A queue's median is `statistics.median` of the `seconds_spent` of its standing decisions
(not undone) made by people (`is_automated` false) after `since`. The counters give, per
hour, guideline, kind, origin and handling-time bucket (`modqueue.queue._core.handling`),
how many there are: the window's whole hours are summed from them, the decisions of the
hour the window starts in (after `since`) are read one by one from
`ix_decision_decided_window`. So the count of every bucket is known, and with it the
bucket each middle rank lies in and how many decisions lie below it; the decisions of
those buckets after the first whole hour are then read from `ix_decision_handling`
(guideline, bucket, `decided_at`) and sorted. What is read grows with a bucket's share of
the window, not with the window.

On PostgreSQL (read committed) the statements may see decisions committed between them;
the rank is then kept within the values read, so the figure is the median of the window
as one statement or the other saw it, give or take that decision.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from functools import cache

from sqlalchemy import ColumnElement, Integer, Select, bindparam, func, literal_column, select
from sqlmodel import Session, col

from modqueue.queue._core.counter_models import DecisionHandling
from modqueue.queue._core.handling import handling_bucket_sql
from modqueue.queue._core.models import Decision
from modqueue.queue._core.origins import is_automated
from modqueue.queue._core.routing import senior_queue
from modqueue.queue._core.types import DecisionStatus

__all__ = ["median_handling_by_queue"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_HOUR = timedelta(hours=1)

_Queue = tuple[str, bool]
"""(guideline, primary or not): a queue (see `_queue_name`)."""


def _queue_name(queue: _Queue) -> str:
    guideline_id, primary = queue
    return guideline_id if primary else senior_queue(guideline_id)


def _bucket_of_decision(dialect: str) -> ColumnElement[int]:
    # The very expression of `ix_decision_handling` (an expression index serves only it).
    return literal_column(handling_bucket_sql(dialect, "decision.seconds_spent"), Integer)


@cache
def _statements(
    dialect: str,
) -> tuple[
    Select[str, bool, str, int, int],
    Select[str, bool, str, int, float],
    Select[str, bool, str, int, float],
]:
    """The counters of the whole hours from `b_hour` on; the decisions after `b_since`
    and before `b_start` (the first whole hour); the decisions from `b_start` on of the
    guidelines `b_guidelines` in the buckets `b_buckets`."""
    bucket = _bucket_of_decision(dialect)
    per_decision = (
        col(Decision.guideline_id),
        col(Decision.kind) == "primary",
        col(Decision.origin),
        bucket,
        col(Decision.seconds_spent),
    )
    standing = col(Decision.status) != DecisionStatus.UNDONE
    keys = (
        col(DecisionHandling.guideline_id),
        col(DecisionHandling.kind) == "primary",
        col(DecisionHandling.origin),
        col(DecisionHandling.bucket),
    )
    counted = (
        select(*keys, func.sum(DecisionHandling.n))
        .where(col(DecisionHandling.hour) >= bindparam("b_hour"))
        .group_by(*keys)
    )
    first_hour = select(*per_decision).where(
        col(Decision.decided_at) > bindparam("b_since"),
        col(Decision.decided_at) < bindparam("b_start"),
        standing,
    )
    middle = select(*per_decision).where(
        col(Decision.guideline_id).in_(bindparam("b_guidelines", expanding=True)),
        bucket.in_(bindparam("b_buckets", expanding=True)),
        col(Decision.decided_at) >= bindparam("b_start"),
        standing,
    )
    return counted, first_hour, middle


def _bucket_at(counts: dict[int, int], rank: int) -> tuple[int, int]:
    """The bucket holding the `rank`-th value (from 0) and how many values lie below it."""
    below = 0
    for bucket in sorted(counts):
        if rank < below + counts[bucket]:
            return bucket, below
        below += counts[bucket]
    raise ValueError(rank)  # the ranks asked for are below the total


def median_handling_by_queue(session: Session, *, since: datetime) -> dict[str, float]:
    """The median `seconds_spent` per queue over the standing human decisions decided
    after `since`, exactly `statistics.median`; queues without one are left out."""
    dialect = session.get_bind().dialect.name
    counted, first_hour, middle = _statements(dialect)
    start_hour = (since - _EPOCH) // _HOUR + 1
    start = _EPOCH + start_hour * _HOUR

    counts: dict[_Queue, Counter[int]] = {}
    hours = session.execute(counted, {"b_hour": start_hour})
    for guideline_id, primary, origin, bucket, n in hours:
        if n and not is_automated(origin):
            counts.setdefault((guideline_id, bool(primary)), Counter())[int(bucket)] += int(n)
    early: dict[tuple[_Queue, int], list[float]] = {}
    for guideline_id, primary, origin, bucket, spent in session.execute(
        first_hour, {"b_since": since, "b_start": start}
    ):
        if not is_automated(origin):
            queue = (guideline_id, bool(primary))
            counts.setdefault(queue, Counter())[int(bucket)] += 1
            early.setdefault((queue, int(bucket)), []).append(float(spent))

    # Per queue: its count and the (bucket, values below it) of its two middle ranks.
    wanted: dict[_Queue, tuple[int, tuple[int, int], tuple[int, int]]] = {}
    for queue, per_bucket in counts.items():
        total = sum(per_bucket.values())
        if total > 0:
            kept = {b: n for b, n in per_bucket.items() if n > 0}
            wanted[queue] = (
                total,
                _bucket_at(kept, (total - 1) // 2),
                _bucket_at(kept, total // 2),
            )
    if not wanted:
        return {}
    values: dict[tuple[_Queue, int], list[float]] = {
        (queue, bucket): list(early.get((queue, bucket), []))
        for queue, (_, low, high) in wanted.items()
        for bucket, _ in (low, high)
    }
    params = {
        "b_start": start,
        "b_guidelines": sorted({guideline_id for guideline_id, _ in wanted}),
        "b_buckets": sorted({bucket for _, bucket in values}),
    }
    for guideline_id, primary, origin, bucket, spent in session.execute(middle, params):
        found = values.get(((guideline_id, bool(primary)), int(bucket)))
        if found is not None and not is_automated(origin):
            found.append(float(spent))

    medians: dict[str, float] = {}
    for queue, (total, low, high) in wanted.items():

        def at(place: tuple[int, int], rank: int, queue: _Queue = queue) -> float | None:
            bucket, below = place
            ordered = sorted(values[(queue, bucket)])
            if not ordered:  # undone since the counters were read (PostgreSQL)
                return None
            return ordered[min(max(rank - below, 0), len(ordered) - 1)]

        upper = at(high, total // 2)
        lower = upper if total % 2 else at(low, total // 2 - 1)
        if lower is not None and upper is not None:
            medians[_queue_name(queue)] = upper if total % 2 else (lower + upper) / 2
    return medians
