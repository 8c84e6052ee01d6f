"""Interleaved audit chains: `audit_event.chain`, so PostgreSQL writers append side by side.

Existing events are all chain 0, whose hashes do not include the chain number, so a trail
written before this revision still verifies.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_audit_chains"
down_revision: str | Sequence[str] | None = "0009_merge"


def upgrade() -> None:
    """Add `chain` (default 0) and the index that finds each chain's head."""
    # Plain ALTER TABLE on both backends: a batch (copy-and-move) on SQLite would drop the
    # triggers that keep the table append-only.
    op.add_column(
        "audit_event", sa.Column("chain", sa.SmallInteger(), nullable=False, server_default="0")
    )
    op.create_index("ix_audit_event_chain", "audit_event", ["chain", "id"])


def downgrade() -> None:
    """Drop the index and the column (every event then reads as one chain again)."""
    op.drop_index("ix_audit_event_chain", table_name="audit_event")
    op.drop_column("audit_event", "chain")
