"""The dashboard's decision figures (per-hour series, automated counts, median handling
time, deadlines missed), aggregated in SQL on both backends, against a plain Python
computation over the raw rows.

The decisions are stored rows written here, not through the decision module: the test
is about reading them, and needs decisions at exact microsecond timestamps (on hour
boundaries), of every kind and origin, some undone. Each row records whether it was made
after its item's deadline, as the decision module does (`after_deadline`); the reference
compares the times. Their items are all drug-supply
items, which no decision here is about: the decisions' queues have no open items, so
their deadline breaches are the decisions made after their item's deadline alone.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy import select, update
from sqlmodel import Session, col

from modqueue.queue import (
    Decision,
    DecisionStatus,
    Item,
    ReviewQueue,
    dashboard_metrics,
    is_automated,
    senior_queue,
)
from tests.conftest import Clock, make_item

HOUR = timedelta(hours=1)
US = timedelta(microseconds=1)
WINDOW = 12


@dataclass(frozen=True)
class Row:
    """One stored decision as the reference reads it."""

    guideline_id: str
    kind: str
    origin: str
    status: str
    decided_at: datetime
    seconds: float
    deadline_at: datetime


@dataclass(frozen=True)
class Figures:
    """A queue's decision figures, as the dashboard reports them."""

    series: list[int]
    automated: int
    median: float | None
    breaches: int


def reference(rows: list[Row], now: datetime) -> dict[str, Figures]:
    """The decision figures per queue, straight from the rows."""
    since = now - timedelta(hours=WINDOW)
    series: dict[str, list[int]] = {}
    automated: dict[str, int] = {}
    spent: dict[str, list[float]] = {}
    breaches: dict[str, int] = {}
    for row in rows:
        if row.decided_at <= since or row.status == DecisionStatus.UNDONE:
            continue
        queue = row.guideline_id if row.kind == "primary" else senior_queue(row.guideline_id)
        series.setdefault(queue, [0] * WINDOW)
        automated.setdefault(queue, 0)
        breaches.setdefault(queue, 0)
        if is_automated(row.origin):
            automated[queue] += 1
            continue
        hours_ago = int((now - row.decided_at).total_seconds() // 3600)
        series[queue][WINDOW - 1 - max(min(hours_ago, WINDOW - 1), 0)] += 1
        spent.setdefault(queue, []).append(row.seconds)
        breaches[queue] += row.decided_at > row.deadline_at
    return {
        queue: Figures(
            series=series[queue],
            automated=automated[queue],
            median=round(statistics.median(spent[queue]), 1) if queue in spent else None,
            breaches=breaches[queue],
        )
        for queue in series
    }


# (hours before the base time, guideline, kind, origin, status, seconds spent)
PLAN: list[tuple[timedelta, str, str, str, str, float]] = [
    # people-smuggling, primary: an even count of human decisions whose two middle values
    # (29.3, 75.0) average to 52.15, which `a + (b - a) / 2` would round to 52.2.
    (0 * HOUR, "people-smuggling", "primary", "api", "active", 10.0),
    (1 * HOUR, "people-smuggling", "primary", "tui", "active", 29.3),
    (1 * HOUR - US, "people-smuggling", "primary", "api", "active", 75.0),
    (1 * HOUR + US, "people-smuggling", "primary", "api", "active", 300.5),
    (2 * HOUR, "people-smuggling", "primary", "tui", "active", 400.0),
    (3 * HOUR + timedelta(seconds=0.999999), "people-smuggling", "primary", "api", "active", 1.0),
    (5 * HOUR, "people-smuggling", "primary", "propagated", "active", 0.0),
    (6 * HOUR, "people-smuggling", "primary", "bank", "active", 0.0),
    (2 * HOUR, "people-smuggling", "primary", "api", "undone", 999.0),
    # people-smuggling's senior queue: senior, second review and appeal decisions together,
    # an odd count; one decided in the future of the base time, one on the window's edge.
    (2 * HOUR, "people-smuggling", "senior", "api", "active", 40.0),
    (4 * HOUR, "people-smuggling", "second_review", "api", "active", 20.25),
    (7 * HOUR, "people-smuggling", "appeal", "tui", "active", 61.75),
    (-0.5 * HOUR, "people-smuggling", "senior", "api", "active", 12.0),
    (12 * HOUR - US, "people-smuggling", "appeal", "api", "active", 8.0),
    (12 * HOUR, "people-smuggling", "senior", "api", "active", 500.0),
    (12 * HOUR + US, "people-smuggling", "senior", "api", "active", 500.0),
    (11 * HOUR, "people-smuggling", "senior", "model:v3", "active", 0.0),
    # doxxing: odd and even counts over time, a superseded decision (still counted).
    (0.25 * HOUR, "doxxing", "primary", "api", "active", 30.0),
    (8 * HOUR, "doxxing", "primary", "api", "superseded", 45.5),
    # Stored at `SS.999999`, exactly an hour before one of the times the test reads at.
    (HOUR + timedelta(microseconds=250_002), "doxxing", "primary", "api", "active", 7.5),
    (9 * HOUR + US, "doxxing", "primary", "api", "active", 45.4),
    (10 * HOUR - timedelta(seconds=0.5), "doxxing", "primary", "hash_match", "active", 0.0),
    (10 * HOUR, "doxxing", "primary", "api", "undone", 5.0),
    # violent-threats: only automated decisions (no median), and an undone senior one.
    (1.5 * HOUR, "violent-threats", "primary", "model", "active", 0.0),
    (2.5 * HOUR, "violent-threats", "primary", "bank_match", "active", 0.0),
    (3 * HOUR, "violent-threats", "senior", "api", "undone", 9.0),
]


# fmt: off
WORDS = (
    "amber", "basalt", "cobalt", "dune", "ember", "fjord", "glacier", "harbor", "iris",
    "juniper", "kelp", "lagoon", "meadow", "nectar", "orchard", "prairie", "quartz", "reef",
    "saffron", "tundra", "umber", "valley", "willow", "xylem", "yarrow", "zephyr", "alder",
    "bramble", "cedar", "delta", "estuary", "fern", "grotto", "heath", "inlet", "jasper",
    "knoll", "ledge", "marsh", "nettle", "oasis", "pumice", "quarry", "ridge", "sorrel",
    "thicket", "upland", "vetch", "wadi", "yucca", "zinnia", "aspen", "bluff", "canyon",
)
# fmt: on


def store(q: ReviewQueue, base: datetime) -> list[Row]:
    """Enqueue an item per planned decision, give the items deadlines around their
    decisions (before, equal, after), and write the decisions."""
    report = q.enqueue(
        [
            make_item(n, policy="drug-supply", text=f"{WORDS[n]} {WORDS[-1 - n]} parcels")
            for n in range(len(PLAN))
        ]
    )
    assert report.new == len(PLAN)

    def write(s: Session) -> list[Row]:
        ids = s.scalars(select(col(Item.id)).order_by(col(Item.id)))
        item_ids = [item_id for item_id in ids if item_id is not None]
        rows = []
        for n, (ago, guideline, kind, origin, status, seconds) in enumerate(PLAN):
            decided = base - ago
            deadline = decided + (-US, timedelta(0), US, -HOUR, 3 * HOUR)[n % 5]
            s.execute(update(Item).where(col(Item.id) == item_ids[n]).values(deadline_at=deadline))
            s.add(
                Decision(
                    item_id=item_ids[n],
                    reviewer="ana",
                    label="fixture",
                    action="none",
                    guideline_id=guideline,
                    guideline_version="1",
                    seconds_spent=seconds,
                    decided_at=decided,
                    origin=origin,
                    kind=kind,
                    status=status,
                    # What the decision module records when it writes a decision.
                    after_deadline=decided > deadline,
                )
            )
            rows.append(Row(guideline, kind, origin, status, decided, seconds, deadline))
        return rows

    return q.run(write)


def test_dashboard_decision_figures_match_the_rows(review_queue: ReviewQueue, clock: Clock) -> None:
    base = clock() + timedelta(hours=20, microseconds=250_001)
    rows = store(review_queue, base)
    nows = [base, base + US, base - US, base + 0.5 * HOUR, base + timedelta(seconds=0.999999)]
    nows += [base - timedelta(microseconds=250_001), base - timedelta(microseconds=250_002)]
    nows += [base + 2 * HOUR]
    for now in nows:
        expected = reference(rows, now)
        metrics = review_queue.run(partial(dashboard_metrics, now=now))
        board = {h.queue: h for h in metrics.queues}
        for queue, figures in expected.items():
            health = board[queue]
            got = Figures(
                health.decided_series,
                health.automated,
                health.median_handling_seconds,
                health.deadline_breaches,
            )
            assert got == figures, (now, queue)
            assert health.decided_last_hour == figures.series[-1]
            assert (health.depth, health.claimed) == (0, 0)
        for queue, health in board.items():
            if queue not in expected:
                assert sum(health.decided_series) == health.automated == 0, (now, queue)
                assert health.median_handling_seconds is None
        assert metrics.decided_series == [
            sum(f.series[slot] for f in expected.values()) for slot in range(WINDOW)
        ]
        assert metrics.automated == sum(f.automated for f in expected.values())
    # The plan's figures are not all trivially zero at the base time.
    at_base = reference(rows, base)
    assert at_base["people-smuggling"].median == 52.1  # 52.15 is 52.1499...
    assert at_base["people-smuggling:senior"].breaches > 0
    assert at_base["violent-threats"].automated == 2
    assert at_base["violent-threats"].median is None
