"""The exact median handling time per queue over a window of decisions, read through the
handling-time counters (`decision_handling`) and only the decisions of the middle bucket.

A queue's median is `statistics.median` of the `seconds_spent` of its standing decisions
(not undone) made by people (`is_automated` false) after `since`. The counters give, per
hour, guideline, kind, origin and handling-time bucket (`modqueue.queue._core.handling`),
how many there are. From the hour boundary nearest `since` on they are summed, and the
decisions between that boundary and `since` (half an hour at most) are counted in SQL
from `ix_decision_decided_window` and taken off (or added). So the count of every bucket
is known, and with it the bucket each middle rank lies in and how many decisions lie
below it; the decisions of those buckets after `since` are then read one by one from
`ix_decision_handling` (guideline, bucket, `decided_at`) and sorted. What is read grows
with a bucket's share of the window, not with the window.

In a read session (`read_session`: one snapshot on both backends) the statements agree.
Called in a read-committed transaction on PostgreSQL they may see decisions committed
between them; the rank is then kept within the values read, so the figure is the median
of the window as one statement or the other saw it, give or take those decisions.
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
    Select[str, bool, str, int, int],
    Select[str, bool, str, int, int],
    Select[str, bool, str, int, float],
]:
    """Per (guideline, primary or not, origin, bucket): the counters of the hours from
    `b_hour` on; the standing decisions after `b_since` and before `b_start`; those from
    `b_start` to `b_since` (both included). Then the standing decisions after `b_since`
    of the guidelines `b_guidelines` in the buckets `b_buckets`, one by one."""
    bucket = _bucket_of_decision(dialect)
    decided = col(Decision.decided_at)
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
    per_decision = (
        col(Decision.guideline_id),
        col(Decision.kind) == "primary",
        col(Decision.origin),
        bucket,
    )
    after = (
        select(*per_decision, func.count())
        .where(decided > bindparam("b_since"), decided < bindparam("b_start"), standing)
        .group_by(*per_decision)
    )
    before = (
        select(*per_decision, func.count())
        .where(decided >= bindparam("b_start"), decided <= bindparam("b_since"), standing)
        .group_by(*per_decision)
    )
    middle = select(*per_decision, col(Decision.seconds_spent)).where(
        col(Decision.guideline_id).in_(bindparam("b_guidelines", expanding=True)),
        bucket.in_(bindparam("b_buckets", expanding=True)),
        decided > bindparam("b_since"),
        standing,
    )
    return counted, after, before, middle


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
    counted, after, before, middle = _statements(session.get_bind().dialect.name)
    # The hour boundary nearest `since`: the counters from it on, less the decisions
    # between it and `since` (or plus those between `since` and it): half an hour of
    # decisions at most, counted in SQL.
    start_hour = (since - _EPOCH + _HOUR / 2) // _HOUR
    start = _EPOCH + start_hour * _HOUR
    edge, sign = (before, -1) if start <= since else (after, 1)

    counts: dict[_Queue, Counter[int]] = {}
    hours = list(session.execute(counted, {"b_hour": start_hour}))
    edges = list(session.execute(edge, {"b_since": since, "b_start": start}))
    for rows, times in ((hours, 1), (edges, sign)):
        for guideline_id, primary, origin, bucket, n in rows:
            if not is_automated(origin):
                per_bucket = counts.setdefault((guideline_id, bool(primary)), Counter())
                per_bucket[int(bucket)] += times * int(n)

    # Per queue: its count and the (bucket, values below it) of its two middle ranks.
    wanted: dict[_Queue, tuple[int, tuple[int, int], tuple[int, int]]] = {}
    for queue, per_bucket in counts.items():
        kept = {b: n for b, n in per_bucket.items() if n > 0}
        total = sum(kept.values())
        if total > 0:
            wanted[queue] = (
                total,
                _bucket_at(kept, (total - 1) // 2),
                _bucket_at(kept, total // 2),
            )
    if not wanted:
        return {}
    values: dict[tuple[_Queue, int], list[float]] = {
        (queue, bucket): [] for queue, (_, low, high) in wanted.items() for bucket, _ in (low, high)
    }
    params = {
        "b_since": since,
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
