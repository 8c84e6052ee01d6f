"""The claim order of the non-senior queues as its own partial index (issue 17).

`claim_next` without queues (every queue but the senior ones) walked
`ix_item_pending_by_priority`, the priority order of every pending item, and stepped
over each senior-queue item on top of it: with escalations at the top of the order, each
claim of a non-senior read all of them. `ix_item_pending_claimable` (`priority DESC, id`
over the pending items outside the senior queues) holds only what that claim may take,
so its first entry is the item. The claim statement repeats the index's condition
literally (`queue NOT LIKE '%:senior'`): only then can the planners (SQLite's always,
PostgreSQL's with a generic plan) use a partial index.

Revision ID: 0025_claim_claimable_index
Revises: 0024_fpingest_pdq_store
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025_claim_claimable_index"
down_revision: str | Sequence[str] | None = "0024_fpingest_pdq_store"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# `\\:` is a colon, not the start of a bound parameter (`text` would bind `:senior`).
CLAIMABLE = sa.text(r"status = 'pending' AND queue NOT LIKE '%\:senior'")


def upgrade() -> None:
    # One pass over the pending rows (a few tens of seconds at 10,000,000 items).
    op.create_index(
        "ix_item_pending_claimable",
        "item",
        [sa.text("priority DESC"), "id"],
        postgresql_where=CLAIMABLE,
        sqlite_where=CLAIMABLE,
    )


def downgrade() -> None:
    op.drop_index("ix_item_pending_claimable", table_name="item")
