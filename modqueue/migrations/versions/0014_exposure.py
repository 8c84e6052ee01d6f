"""Exposure budgets: `exposure_event` (what each reviewer was shown or revealed, with its
points) and `exposure_lift` (a lead's lift of the budget for one shift)."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_exposure"
down_revision: str | Sequence[str] | None = "0013_clusters"


def upgrade() -> None:
    op.create_table(
        "exposure_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reviewer", sa.String(length=200), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=True),
        sa.Column("queue", sa.String(length=200), nullable=False),
        sa.Column("policy", sa.String(length=100), nullable=True),
        sa.Column("graphic", sa.Boolean(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("points", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["item.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_exposure_event_reviewer_at", "exposure_event", ["reviewer", "at"])
    op.create_index("ix_exposure_event_at", "exposure_event", ["at"])
    op.create_table(
        "exposure_lift",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reviewer", sa.String(length=200), nullable=False),
        sa.Column("lifted_by", sa.String(length=200), nullable=False),
        sa.Column("lifted_at", sa.DateTime(), nullable=False),
        sa.Column("until", sa.DateTime(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_exposure_lift_reviewer_until", "exposure_lift", ["reviewer", "until"])


def downgrade() -> None:
    op.drop_index("ix_exposure_lift_reviewer_until", table_name="exposure_lift")
    op.drop_table("exposure_lift")
    op.drop_index("ix_exposure_event_at", table_name="exposure_event")
    op.drop_index("ix_exposure_event_reviewer_at", table_name="exposure_event")
    op.drop_table("exposure_event")
