"""Item counts per queue and status, kept up to date by the database itself.

`queue_counter` holds, per `(queue, status)`, a few `slot` rows whose `n` add up to how
many items are in that queue with that status. Triggers on `item` (migration
`0019_hotpath_counters`) move them in the same transaction as every insert, status or
queue change and delete, whoever writes: on PostgreSQL a statement-level trigger adds a
whole ingest batch at once, and a row trigger spreads single-row changes over
`QUEUE_COUNTER_SLOTS` slots (by backend process) so concurrent claims and decisions do
not queue behind one counter row. Reading a count is summing a handful of rows, however
many items there are.

`action_counter` does the same for outbound actions per `(policy, status)` (migration
`0023_outcount_action_counters`, triggers on `outbound_action`), for the stats and the
lead dashboard.

`decision_minute` counts the standing decisions (not undone) per guideline, kind, origin
and minute of `decided_at`, and how many of them missed their item's deadline
(`decision.after_deadline`), kept by triggers on `decision` (migration
`0029_dash3_after_deadline`), so the dashboard's hourly series and missed deadlines read
a few counter rows per minute of its window, however many decisions were made in it.

`decision_handling` counts the same standing decisions per guideline, kind, origin, hour
of `decided_at` and handling-time bucket (`modqueue.queue._core.handling`), kept by
triggers on `decision` (migration `0030_dash4_handling_buckets`): the dashboard's exact
median handling time finds the bucket of the middle decision from these counts and then
reads only that bucket's decisions.
"""

from __future__ import annotations

from sqlalchemy import BigInteger
from sqlmodel import Field, SQLModel

__all__ = [
    "ACTION_COUNTER_SLOTS",
    "QUEUE_COUNTER_SLOTS",
    "ActionCounter",
    "DecisionHandling",
    "DecisionMinute",
    "QueueCounter",
]

QUEUE_COUNTER_SLOTS = 8
"""Counter rows per (queue, status) on PostgreSQL (SQLite, one writer at a time, uses one)."""


class QueueCounter(SQLModel, table=True):
    """One slot of the count of items in `queue` with `status` (sum the slots)."""

    __tablename__ = "queue_counter"

    queue: str = Field(primary_key=True, max_length=200)
    status: str = Field(primary_key=True, max_length=20)
    slot: int = Field(default=0, primary_key=True)
    n: int = 0


ACTION_COUNTER_SLOTS = 8
"""Counter rows per (policy, status) of outbound actions on PostgreSQL (SQLite uses one)."""


class ActionCounter(SQLModel, table=True):
    """One slot of the count of outbound actions of `policy` with `status` (sum the
    slots)."""

    __tablename__ = "action_counter"

    policy: str = Field(primary_key=True, max_length=100)
    status: str = Field(primary_key=True, max_length=20)
    slot: int = Field(default=0, primary_key=True)
    n: int = 0


class DecisionMinute(SQLModel, table=True):
    """The standing decisions (status not `undone`) of `guideline_id`, `kind` and
    `origin` decided in `minute` (whole minutes since the epoch, UTC): how many (`n`) and
    how many of them after their item's deadline (`late`)."""

    __tablename__ = "decision_minute"

    minute: int = Field(primary_key=True, sa_type=BigInteger)
    guideline_id: str = Field(primary_key=True, max_length=100)
    kind: str = Field(primary_key=True, max_length=40)
    origin: str = Field(primary_key=True, max_length=40)
    n: int = 0
    late: int = 0


class DecisionHandling(SQLModel, table=True):
    """The standing decisions (status not `undone`) of `guideline_id`, `kind` and
    `origin` decided in `hour` (whole hours since the epoch, UTC) whose `seconds_spent`
    falls in handling-time `bucket` (`modqueue.queue._core.handling`): how many (`n`)."""

    __tablename__ = "decision_handling"

    hour: int = Field(primary_key=True, sa_type=BigInteger)
    guideline_id: str = Field(primary_key=True, max_length=100)
    kind: str = Field(primary_key=True, max_length=40)
    origin: str = Field(primary_key=True, max_length=40)
    bucket: int = Field(primary_key=True)
    n: int = 0
