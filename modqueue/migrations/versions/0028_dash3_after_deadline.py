"""Decisions record whether they missed their item's deadline, and the dashboard reads a
window of decisions from one covering index.

The lead dashboard counts, per queue, the decisions of the last hours made after their
item's deadline. It probed `item` for `deadline_at` once per decision in the window: a
random read into the largest table per decision, linear in the window's decisions (183
ms at 7,000 decisions on 10,000,000 items). `decision.after_deadline` is now set by the
decision module when the decision is written (`decided_at > deadline_at`, the deadline
the item had then; the item's row is locked for the decision anyway), and
`ix_decision_decided_window` (`decided_at`, `guideline_id`, `kind`, `origin`, `status`,
`after_deadline`, `seconds_spent`) holds every column the dashboard reads of a window's
decisions: an index-only range scan on PostgreSQL, a covering index on SQLite. It
replaces `ix_decision_decided_at`, whose range reads (by `decided_at`) it serves as well.

The backfill: the column is added with default false (no table rewrite on PostgreSQL),
then only the decisions that were made after their item's deadline are updated, in
batches of decision ids (one set-based statement each). The index is built after it.

Revision ID: 0028_dash3_after_deadline
Revises: 0027_fpingest2_band_covering
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0028_dash3_after_deadline"
down_revision: str | Sequence[str] | None = "0027_fpingest2_band_covering"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 250_000
"""Decision ids per backfill statement."""

_WINDOW_COLUMNS = [
    "decided_at",
    "guideline_id",
    "kind",
    "origin",
    "status",
    "after_deadline",
    "seconds_spent",
]  # modqueue.queue._core.models.DECISION_WINDOW_COLUMNS

_PG_BACKFILL = sa.text(
    "UPDATE decision AS d SET after_deadline = true FROM item AS i "
    "WHERE d.id >= :low AND d.id < :high AND i.id = d.item_id AND d.decided_at > i.deadline_at"
)
_SQLITE_BACKFILL = sa.text(
    "UPDATE decision SET after_deadline = 1 WHERE id >= :low AND id < :high "
    "AND decided_at > (SELECT deadline_at FROM item WHERE item.id = decision.item_id)"
)


def upgrade() -> None:
    bind = op.get_bind()
    op.add_column(
        "decision",
        sa.Column("after_deadline", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    backfill = _PG_BACKFILL if bind.dialect.name == "postgresql" else _SQLITE_BACKFILL
    low, last = bind.execute(sa.text("SELECT min(id), max(id) FROM decision")).one()
    while low is not None and low <= last:
        bind.execute(backfill, {"low": low, "high": low + BATCH})
        low += BATCH
    op.create_index("ix_decision_decided_window", "decision", _WINDOW_COLUMNS, unique=False)
    op.drop_index("ix_decision_decided_at", table_name="decision")


def downgrade() -> None:
    op.create_index("ix_decision_decided_at", "decision", ["decided_at"], unique=False)
    op.drop_index("ix_decision_decided_window", table_name="decision")
    with op.batch_alter_table("decision") as batch:
        batch.drop_column("after_deadline")
