"""Indexes that keep the stats and the lead dashboard fast at millions of items.

* `ix_item_open_deadline` (`deadline_at, queue` over pending and claimed items): the
  past-deadline count is the open items (from `queue_counter`) minus those whose deadline
  is still ahead, which this index counts by reading only the deadlines to come (the
  items still inside their SLA), never the whole backlog.
* `ix_item_pending_ingested` and `ix_item_pending_flagged` (`queue` then `ingested_at`,
  or the flag time the deadlines run on, over pending items): the oldest pending item of
  a queue is the first entry of its range, not a scan of every pending row.
* `ix_decision_decided_at`: the dashboard's decisions of the last hours.
* `ix_audit_event_event_at` (`event, at`): the dashboard's escalations of the last hours
  (on PostgreSQL created on every monthly partition).

Revision ID: 0022_scale_read_indexes
Revises: 0021_bulkdecide_counted_moves
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022_scale_read_indexes"
down_revision: str | Sequence[str] | None = "0021_bulkdecide_counted_moves"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = sa.text("status IN ('pending', 'claimed')")
PENDING = sa.text("status = 'pending'")


def upgrade() -> None:
    op.create_index(
        "ix_item_open_deadline",
        "item",
        ["deadline_at", "queue"],
        postgresql_where=OPEN,
        sqlite_where=OPEN,
    )
    op.create_index(
        "ix_item_pending_ingested",
        "item",
        ["queue", "ingested_at"],
        postgresql_where=PENDING,
        sqlite_where=PENDING,
    )
    op.create_index(
        "ix_item_pending_flagged",
        "item",
        ["queue", sa.text("coalesce(flagged_at, ingested_at)")],
        postgresql_where=PENDING,
        sqlite_where=PENDING,
    )
    op.create_index("ix_decision_decided_at", "decision", ["decided_at"])
    op.create_index("ix_audit_event_event_at", "audit_event", ["event", "at"])


def downgrade() -> None:
    op.drop_index("ix_audit_event_event_at", table_name="audit_event")
    op.drop_index("ix_decision_decided_at", table_name="decision")
    for name in (
        "ix_item_pending_flagged",
        "ix_item_pending_ingested",
        "ix_item_open_deadline",
    ):
        op.drop_index(name, table_name="item")
