"""The queue's tables, as SQLModel model families (`XBase`, `X(table=True)`, `XPublic`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, SmallInteger, UniqueConstraint, false, text
from sqlmodel import Field, SQLModel

from modqueue.queue._core.handling import handling_bucket_sql
from modqueue.queue._core.types import ActionStatus, DecisionStatus, ItemStatus, UTCDateTime, utcnow

__all__ = [
    "AuditCheckpoint",
    "AuditEvent",
    "Decision",
    "DecisionPublic",
    "Item",
    "ItemBase",
    "ItemPublic",
    "OutboundAction",
    "OutboundActionPublic",
    "SyncCursor",
]

PENDING_ONLY = text("status = 'pending'")
OPEN_ONLY = text("status IN ('pending', 'claimed')")
DECISION_WINDOW_COLUMNS = (
    "decided_at",
    "guideline_id",
    "kind",
    "origin",
    "status",
    "after_deadline",
    "seconds_spent",
)
"""What the dashboard reads of a window's decisions: `ix_decision_decided_window` holds
them all, in `decided_at` order (an index-only scan on PostgreSQL, a covering index on
SQLite)."""
IN_A_CLUSTER = text("cluster_id IS NOT NULL")
CLAIMABLE_ONLY = text(r"status = 'pending' AND queue NOT LIKE '%\:senior'")  # `\:`: a colon
"""The pending items outside the senior queues: what `claim_next` takes by default (the
claim statement repeats this condition literally, see migration 0023)."""


class ItemBase(SQLModel):
    """What a source says about a flagged piece of content."""

    source: str = Field(max_length=200)
    external_id: str = Field(max_length=500)
    text: str | None = None
    url: str | None = Field(default=None, max_length=4000)
    media: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSON)
    author_id: str | None = Field(default=None, max_length=500)
    author_handle: str | None = Field(default=None, max_length=500)
    policy: str | None = Field(default=None, max_length=100)
    signals: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSON)
    report_count: int = 0
    views: int = 0
    flagged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Item(ItemBase, table=True):
    """One queue entry; `(source, external_id)` is its identity."""

    __tablename__ = "item"
    __table_args__ = (
        UniqueConstraint("source", "external_id", name="uq_item_source_external_id"),
        Index(
            "ix_item_pending_by_queue",
            "queue",
            text("priority DESC"),
            "id",
            postgresql_where=PENDING_ONLY,
            sqlite_where=PENDING_ONLY,
        ),
        Index(
            "ix_item_pending_by_priority",
            text("priority DESC"),
            "id",
            postgresql_where=PENDING_ONLY,
            sqlite_where=PENDING_ONLY,
        ),
        # Migration 0025: the claim order of every queue but the senior ones; 0026: on
        # PostgreSQL with each item's policy, for the index-only candidate search.
        Index(
            "ix_item_pending_claimable",
            text("priority DESC"),
            "id",
            postgresql_where=CLAIMABLE_ONLY,
            sqlite_where=CLAIMABLE_ONLY,
            postgresql_include=["policy"],
        ),
        # Migration 0021: past-deadline counts, oldest pending ages.
        Index(
            "ix_item_open_deadline",
            "deadline_at",
            "queue",
            postgresql_where=OPEN_ONLY,
            sqlite_where=OPEN_ONLY,
        ),
        Index(
            "ix_item_pending_ingested",
            "queue",
            "ingested_at",
            postgresql_where=PENDING_ONLY,
            sqlite_where=PENDING_ONLY,
        ),
        Index(
            "ix_item_pending_flagged",
            "queue",
            text("coalesce(flagged_at, ingested_at)"),
            postgresql_where=PENDING_ONLY,
            sqlite_where=PENDING_ONLY,
        ),
        Index("ix_item_status_lease", "status", "lease_expires_at"),
        Index("ix_item_queue_status", "queue", "status"),
        # Migration 0031: only the items in a cluster (every query of it asks for a
        # cluster id); the items outside one no longer cost an entry on every update.
        Index(
            "ix_item_cluster_id",
            "cluster_id",
            postgresql_where=IN_A_CLUSTER,
            sqlite_where=IN_A_CLUSTER,
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    queue: str = Field(max_length=200)
    status: str = Field(default=ItemStatus.PENDING, max_length=20)
    priority: float = 0.0
    priority_breakdown: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    reporter: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    ingested_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    deadline_at: datetime = Field(sa_type=UTCDateTime)
    deadline_state: str = Field(default="ok", max_length=20)
    escalated: bool = False
    claimed_by: str | None = Field(default=None, max_length=200)
    claim_token: str | None = Field(default=None, max_length=64)
    claimed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    lease_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    final_label: str | None = Field(default=None, max_length=100)
    suggestion: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    cluster_id: int | None = Field(default=None, foreign_key="content_cluster.id")
    notice_type: str = Field(default="own_initiative", max_length=20)
    trusted_flagger: str | None = Field(default=None, max_length=200)
    reporter_purged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    content_purged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The split of the item's own content (`split_for` without its cluster), stored by
    # ingest for the export; null until computed, and again whenever `text`, `url` or
    # the media URLs change (a trigger: migration 0028).
    content_split: str | None = Field(default=None, max_length=10)


class ItemPublic(ItemBase):
    """An item as reviewers see it: everything but the reporter's personal data."""

    id: int
    queue: str
    status: str
    priority: float
    priority_breakdown: dict[str, Any]
    ingested_at: datetime
    deadline_at: datetime
    deadline_state: str
    escalated: bool
    final_label: str | None
    suggestion: dict[str, Any] | None = None
    cluster_id: int | None = None


class DecisionBase(SQLModel):
    """A reviewer's label for an item, made against one version of a guideline."""

    item_id: int = Field(foreign_key="item.id", index=True)
    reviewer: str = Field(max_length=200)
    label: str = Field(max_length=100)
    action: str = Field(max_length=40)
    note: str = ""
    guideline_id: str = Field(max_length=100)
    guideline_version: str = Field(max_length=80)
    seconds_spent: float = 0.0
    decided_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    origin: str = Field(default="api", max_length=40)
    kind: str = Field(default="primary", max_length=40)
    status: str = Field(default=DecisionStatus.ACTIVE, max_length=20)
    external_ref: str | None = Field(default=None, max_length=200)
    cluster_decision_id: int | None = Field(
        default=None, foreign_key="cluster_decision.id", index=True
    )


class Decision(DecisionBase, table=True):
    """Stored decision; several per item are kept (second reviews, seniors, appeals)."""

    __tablename__ = "decision"
    __table_args__ = (
        # The dashboard's window read from the index alone (see migration 0028).
        Index("ix_decision_decided_window", *DECISION_WINDOW_COLUMNS),
        # Migration 0030: the dashboard's median reads one handling-time bucket of a
        # guideline since a time (on SQLite the included columns are key columns).
        Index(
            "ix_decision_handling",
            "guideline_id",
            text(handling_bucket_sql("postgresql")),
            "decided_at",
            postgresql_include=["kind", "origin", "status", "seconds_spent"],
        ),
    )
    id: int | None = Field(default=None, primary_key=True)
    after_deadline: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    """Whether the decision was made after its item's deadline (`decided_at >
    deadline_at`, the deadline the item had when decided): set once by the decision
    module, so the dashboard counts missed deadlines without reading the items."""


class DecisionPublic(DecisionBase):
    """A decision as returned by the API."""

    id: int


class OutboundActionBase(SQLModel):
    """A takedown (or reversal) to send to the item's platform."""

    item_id: int = Field(foreign_key="item.id", index=True)
    decision_id: int | None = Field(default=None, foreign_key="decision.id")
    action: str = Field(max_length=40)
    source: str = Field(max_length=200)
    external_id: str = Field(max_length=500)
    policy: str = Field(max_length=100)
    label: str = Field(max_length=100)
    reason: str = ""
    idempotency_key: str = Field(max_length=64, unique=True)
    status: str = Field(default=ActionStatus.PENDING, max_length=20)
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_error: str | None = None
    reply: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    reference: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    reverses_id: int | None = Field(default=None, foreign_key="outbound_action.id")


class OutboundAction(OutboundActionBase, table=True):
    """The outbox row, written in the same transaction as its decision."""

    __tablename__ = "outbound_action"
    __table_args__ = (
        Index(
            "ix_outbound_action_due",
            "next_attempt_at",
            "id",
            postgresql_where=PENDING_ONLY,
            sqlite_where=PENDING_ONLY,
        ),
        Index("ix_outbound_action_status", "status"),
    )
    id: int | None = Field(default=None, primary_key=True)


class OutboundActionPublic(OutboundActionBase):
    """An outbound action as listed by the CLI and API."""

    id: int


class AuditEvent(SQLModel, table=True):
    """Append-only record of a state change: who, what, when, before and after; `chain`,
    `prev_hash` and `hash` link it into the hash chains (see `modqueue.queue._audit.chain`)."""

    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_event_item", "item_id", "id"),
        Index("ix_audit_event_actor", "actor", "id"),
        Index("ix_audit_event_chain", "chain", "id"),
        Index("ix_audit_event_event_at", "event", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    chain: int = Field(default=0, sa_type=SmallInteger)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    actor: str = Field(max_length=200)
    event: str = Field(max_length=60)
    item_id: int | None = None
    before: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    after: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    detail: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    prev_hash: str | None = Field(default=None, max_length=64)
    hash: str | None = Field(default=None, max_length=64)


class AuditCheckpoint(SQLModel, table=True):
    """One chain's head at a verified point of the audit trail: checkpoint `checkpoint`
    holds a row per chain (`event_id`, `hash`), written after a verification passed, so a
    later verification can start there (`verify_since`) instead of at the first event."""

    __tablename__ = "audit_checkpoint"

    checkpoint: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    chain: int = Field(primary_key=True, sa_type=SmallInteger)
    event_id: int
    hash: str = Field(max_length=64)
    checked_at: datetime = Field(sa_type=UTCDateTime)


class SyncCursor(SQLModel, table=True):
    """A named position in an external stream (a feed's cursor, Label Studio's last pull)."""

    __tablename__ = "sync_cursor"
    name: str = Field(primary_key=True, max_length=200)
    value: str
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
