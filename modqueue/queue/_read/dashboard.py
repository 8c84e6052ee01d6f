"""The lead's dashboard in numbers: per queue depth, throughput, handling time, deadline
breaches, escalations and what the platforms did with the actions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ColumnElement,
    Select,
    bindparam,
    case,
    cast,
    column,
    extract,
    func,
    select,
    table,
    union_all,
)
from sqlmodel import Session, col

from modqueue.queue._claims.exposure import exposure_by_queue
from modqueue.queue._core.counter_models import DecisionMinute
from modqueue.queue._core.models import AuditEvent, Decision
from modqueue.queue._core.origins import is_automated
from modqueue.queue._core.routing import senior_queue
from modqueue.queue._core.types import ActionStatus, DecisionStatus, ItemStatus
from modqueue.queue._read.counters import action_counts, item_counts
from modqueue.queue._read.handling import median_handling_by_queue
from modqueue.queue._read.stats import past_deadline_by_queue

__all__ = ["DashboardMetrics", "ModelHealth", "QueueHealth", "dashboard_metrics"]

# The model registry (`modqueue.learning`) sits above the queue: read its table by name.
_MODEL_VERSION = table(
    "model_version",
    column("policy"),
    column("version"),
    column("state"),
    column("drift", JSON),
)


@dataclass(slots=True)
class QueueHealth:
    """One queue's health over the dashboard's window.

    `decided_series` holds decisions per hour, oldest hour first; `decided_last_hour` is
    its last value. `deadline_breaches` counts items waiting past their deadline now plus
    decisions in the window made after the deadline. `actions` counts outbound actions of
    the queue's policy per status (all time). `exposure_points` and `exposure_reveals`
    sum what reviewers were shown and revealed in the queue over the window, everyone
    together (per-person figures need their own permission). `automated` counts the
    decisions in the window that no person made on the item (origin `propagated` from a
    cluster decision, bank matches, models: `is_automated`); they are left out of
    `decided_series` and the handling time, which count people's work.
    """

    queue: str
    depth: int = 0
    claimed: int = 0
    decided_last_hour: int = 0
    decided_series: list[int] = field(default_factory=list)
    median_handling_seconds: float | None = None
    deadline_breaches: int = 0
    escalations: int = 0
    actions: dict[str, int] = field(default_factory=dict)
    exposure_points: float = 0.0
    exposure_reveals: int = 0
    automated: int = 0


@dataclass(frozen=True, slots=True)
class ModelHealth:
    """An active model's last drift check: its precision on recent human decisions
    against its test precision; `drifted` when it fell by more than the margin."""

    policy: str
    version: str
    recent_precision: float | None
    test_precision: float | None
    decisions: int
    drifted: bool
    checked_at: str | None


@dataclass(slots=True)
class DashboardMetrics:
    """Every queue's health at `generated_at`, the totals across queues, and the active
    models' drift checks."""

    generated_at: datetime
    window_hours: int
    queues: list[QueueHealth]
    decided_series: list[int]
    actions: dict[str, int]
    models: list[ModelHealth] = field(default_factory=list)
    automated: int = 0
    """Automated decisions in the window, every queue together (see `QueueHealth`)."""


def _model_health(session: Session) -> list[ModelHealth]:
    rows = session.execute(
        select(
            _MODEL_VERSION.c.policy,
            _MODEL_VERSION.c.version,
            _MODEL_VERSION.c.drift,
        )
        .where(_MODEL_VERSION.c.state == "active")
        .order_by(_MODEL_VERSION.c.policy)
    )
    out = []
    for policy, version, drift in rows:
        d = drift or {}
        out.append(
            ModelHealth(
                policy=policy,
                version=version,
                recent_precision=d.get("recent_precision"),
                test_precision=d.get("test_precision"),
                decisions=int(d.get("decisions", 0)),
                drifted=bool(d.get("drifted")),
                checked_at=d.get("checked_at"),
            )
        )
    return out


def _queue_of_decision(guideline_id: str, primary: object) -> str:
    # `primary` is `_is_primary()` as the dialect returns it (a boolean, SQLite 0 or 1).
    return guideline_id if primary else senior_queue(guideline_id)


def _is_primary() -> ColumnElement[bool]:
    """Whether a decision counts in its guideline's queue; the other kinds (second
    review, senior, appeal) count in its senior queue."""
    return col(Decision.kind) == "primary"


def _active_in_window(since: datetime) -> tuple[ColumnElement[bool], ...]:
    """The window's decisions that still stand (superseded ones count, undone do not)."""
    return (
        col(Decision.decided_at) > since,
        col(Decision.status) != DecisionStatus.UNDONE,
    )


_MICROSECONDS_PER_HOUR = 3_600_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _decided_epoch_microseconds(dialect: str) -> ColumnElement[int]:
    """SQL for a decision's `decided_at` (stored naive UTC) in whole microseconds since
    the epoch, exactly.

    PostgreSQL's `extract(epoch ...)` is an exact numeric. SQLite's date functions keep
    only milliseconds (and round `SS.999999` up a second), so its seconds come from the
    text without the fraction and the microseconds from the fraction's digits (SQLAlchemy
    stores `YYYY-MM-DD HH:MM:SS.ffffff`; shorter fractions are padded).
    """
    stamp = col(Decision.decided_at)
    if dialect == "postgresql":
        return cast(extract("epoch", stamp) * 1_000_000, BigInteger)
    seconds = cast(func.strftime("%s", func.substr(stamp, 1, 19)), BigInteger)
    fraction = func.substr(func.substr(stamp, 21).op("||")("000000"), 1, 6)
    return seconds * 1_000_000 + cast(fraction, BigInteger)


def _slot_of(epoch_microseconds: ColumnElement[int], *, window_hours: int) -> ColumnElement[int]:
    """SQL for the hour slot of a time given in microseconds since the epoch, read at
    `b_now_us` (the read time in microseconds since the epoch).

    The slot is the hour counted back from the read time (oldest slot 0, the last hour
    `window_hours - 1`; times after it count in the last hour), the same as
    `int((now - decided).total_seconds() // 3600)` clamped to the window: in whole
    microseconds, so a time exactly on an hour boundary falls in the older hour.
    """
    age = bindparam("b_now_us", type_=BigInteger) - epoch_microseconds
    hour = age // _MICROSECONDS_PER_HOUR  # integer division: truncates, fine at >= 0
    last = window_hours - 1
    return case((hour <= 0, last), (hour >= last, 0), else_=last - hour)


def _epoch_minute(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(minutes=1)


@cache
def _slot_statements(dialect: str, window_hours: int) -> tuple[Select[Any], Select[Any]]:
    """The two statements of `_decided_by_slot` for a window of `window_hours` (built
    once: building them costs more than running them), bound by name: `b_now_us`,
    `b_since`, the window's slot-start minutes `b_edges` and, per slot `h`, the bounds
    `b_from_h` and `b_to_h` of its first minute."""
    per_decision = [
        select(
            col(Decision.guideline_id).label("guideline_id"),
            _is_primary().label("primary"),
            col(Decision.origin).label("origin"),
            _slot_of(_decided_epoch_microseconds(dialect), window_hours=window_hours).label("slot"),
            case((col(Decision.after_deadline), 1), else_=0).label("late"),
        ).where(
            col(Decision.decided_at) > bindparam("b_since"),
            col(Decision.status) != DecisionStatus.UNDONE,
            col(Decision.decided_at) >= bindparam(f"b_from_{h}"),
            col(Decision.decided_at) < bindparam(f"b_to_{h}"),
        )
        for h in range(window_hours)
    ]
    edge = union_all(*per_decision).subquery()
    keys = (edge.c.guideline_id, edge.c.primary, edge.c.origin, edge.c.slot)
    edges = select(*keys, func.count(), func.sum(edge.c.late)).group_by(*keys)
    minute = col(DecisionMinute.minute)
    per_minute = (
        select(
            col(DecisionMinute.guideline_id).label("guideline_id"),
            (col(DecisionMinute.kind) == "primary").label("primary"),
            col(DecisionMinute.origin).label("origin"),
            _slot_of(minute * 60_000_000, window_hours=window_hours).label("slot"),
            col(DecisionMinute.n).label("n"),
            col(DecisionMinute.late).label("late"),
        )
        .where(minute > bindparam("b_first"), minute.not_in(bindparam("b_edges", expanding=True)))
        .subquery()
    )
    keys = (per_minute.c.guideline_id, per_minute.c.primary, per_minute.c.origin, per_minute.c.slot)
    counted = (
        select(*keys, func.sum(per_minute.c.n), func.sum(per_minute.c.late))
        .group_by(*keys)
        .having(func.sum(per_minute.c.n) > 0)
    )
    return edges, counted


_Slotted = tuple[str, bool, str, int]
"""(guideline, primary or not, origin, hour slot)."""


def _decided_by_slot(
    session: Session, *, now: datetime, since: datetime, window_hours: int
) -> list[tuple[str, bool, str, int, int, int]]:
    """The window's active decisions per (guideline, primary or not, origin, hour slot,
    see `_slot_of`): how many, and how many were made after their item's deadline.

    An hour slot starts at `since` plus whole hours, so every minute of the window but
    the minutes those starts fall in lies within one slot: those minutes are summed from
    the counters (`decision_minute`, a minute in the slot of its first microsecond), and
    the decisions of the slots' first minutes (one minute per slot) are read one by one
    from `ix_decision_decided_window` (`after_deadline`: the items are not read).
    """
    edges = [_epoch_minute(since + timedelta(hours=h)) for h in range(window_hours)]
    params: dict[str, Any] = {
        "b_now_us": (now - _EPOCH) // timedelta(microseconds=1),
        "b_since": since,
        "b_first": edges[0],
        "b_edges": edges,
    }
    for h, minute in enumerate(edges):
        params[f"b_from_{h}"] = _EPOCH + timedelta(minutes=minute)
        params[f"b_to_{h}"] = _EPOCH + timedelta(minutes=minute + 1)
    by_decision, by_minute = _slot_statements(session.get_bind().dialect.name, window_hours)
    found: dict[_Slotted, list[int]] = {}
    for statement in (by_decision, by_minute):
        for g, p, o, slot, n, late in session.execute(statement, params):
            totals = found.setdefault((g, bool(p), o, int(slot)), [0, 0])
            totals[0] += int(n)
            totals[1] += int(late)
    return [(*key, n, late) for key, (n, late) in found.items()]


def dashboard_metrics(
    session: Session, *, now: datetime, window_hours: int = 12
) -> DashboardMetrics:
    """Per-queue health for the lead dashboard, over the last `window_hours` hours.

    Reads only: depths and deadline breaches from items, throughput and median handling
    time from active decisions in the window, escalations from the audit trail, action
    outcomes from the outbox.
    """
    since = now - timedelta(hours=window_hours)
    health: dict[str, QueueHealth] = {}

    def get(queue: str) -> QueueHealth:
        if queue not in health:
            health[queue] = QueueHealth(
                queue=queue,
                decided_series=[0] * window_hours,
                actions={s.value: 0 for s in ActionStatus},
            )
        return health[queue]

    open_counts = item_counts(session, statuses=[ItemStatus.PENDING, ItemStatus.CLAIMED])
    for (queue, status), count in sorted(open_counts.items()):
        entry = get(queue)
        if status == ItemStatus.PENDING:
            entry.depth = count
        else:
            entry.claimed = count
    for queue, count in past_deadline_by_queue(session, now=now).items():
        get(queue).deadline_breaches += count

    total_series = [0] * window_hours
    automated = 0
    for guideline_id, primary, origin, slot, count, breaches in _decided_by_slot(
        session, now=now, since=since, window_hours=window_hours
    ):
        entry = get(_queue_of_decision(guideline_id, primary))
        if is_automated(origin):
            entry.automated += count
            automated += count
            continue
        entry.decided_series[slot] += count
        total_series[slot] += count
        entry.deadline_breaches += breaches
    # A second statement: outside a read session's snapshot (read committed on
    # PostgreSQL) it may see a decision committed since the first, possibly of a queue
    # that had none before, hence `get`.
    for queue, median in median_handling_by_queue(session, since=since).items():
        get(queue).median_handling_seconds = round(median, 1)

    for (before,) in session.execute(
        select(col(AuditEvent.before)).where(
            col(AuditEvent.event) == "escalated", col(AuditEvent.at) > since
        )
    ):
        source = (before or {}).get("queue")
        if isinstance(source, str):
            get(source).escalations += 1

    totals = {s.value: 0 for s in ActionStatus}
    for (policy, status), count in action_counts(session).items():
        get(policy).actions[status] = count
        totals[status] = totals.get(status, 0) + count

    for queue, exposed in exposure_by_queue(session, since=since).items():
        entry = get(queue)
        entry.exposure_points = round(exposed.points, 1)
        entry.exposure_reveals = exposed.reveals

    for entry in health.values():
        entry.decided_last_hour = entry.decided_series[-1] if entry.decided_series else 0
    return DashboardMetrics(
        generated_at=now,
        window_hours=window_hours,
        queues=[health[name] for name in sorted(health)],
        decided_series=total_series,
        actions=totals,
        models=_model_health(session),
        automated=automated,
    )
