"""The lead's dashboard in numbers: per queue depth, throughput, handling time, deadline
breaches, escalations and what the platforms did with the actions."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import JSON, column, select, table
from sqlmodel import Session, col

from modqueue.queue._claims.exposure import exposure_by_queue
from modqueue.queue._core.models import AuditEvent, Decision, Item
from modqueue.queue._core.origins import is_automated
from modqueue.queue._core.routing import senior_queue
from modqueue.queue._core.types import ActionStatus, DecisionStatus, ItemStatus
from modqueue.queue._read.counters import action_counts, item_counts
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


def _aware(value: datetime | str) -> datetime:
    if isinstance(value, str):  # SQLite aggregates bypass the column type
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _queue_of_decision(guideline_id: str, kind: str) -> str:
    return guideline_id if kind == "primary" else senior_queue(guideline_id)


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

    handling: dict[str, list[float]] = {}
    total_series = [0] * window_hours
    automated = 0
    for guideline_id, kind, origin, decided_at, seconds, deadline_at in session.execute(
        select(
            col(Decision.guideline_id),
            col(Decision.kind),
            col(Decision.origin),
            col(Decision.decided_at),
            col(Decision.seconds_spent),
            col(Item.deadline_at),
        )
        .join(Item, col(Item.id) == col(Decision.item_id))
        .where(col(Decision.decided_at) > since, col(Decision.status) != DecisionStatus.UNDONE)
    ):
        queue = _queue_of_decision(guideline_id, kind)
        entry = get(queue)
        if is_automated(origin):
            entry.automated += 1
            automated += 1
            continue
        decided = _aware(decided_at)
        hour = min(int((now - decided).total_seconds() // 3600), window_hours - 1)
        slot = window_hours - 1 - max(hour, 0)
        entry.decided_series[slot] += 1
        total_series[slot] += 1
        handling.setdefault(queue, []).append(float(seconds))
        if decided > _aware(deadline_at):
            entry.deadline_breaches += 1
    for queue, values in handling.items():
        health[queue].median_handling_seconds = round(statistics.median(values), 1)

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
