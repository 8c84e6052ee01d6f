"""Quality tables: gold items, appeals, the export's generated key."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_quality"
down_revision: str | Sequence[str] | None = "0001_core"


def upgrade() -> None:
    op.create_table(
        "gold_item",
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("added_by", sa.String(length=200), nullable=False),
        sa.Column("added_at", sa.DateTime(), nullable=False),
        sa.Column("note", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["item.id"]),
        sa.PrimaryKeyConstraint("item_id"),
    )
    op.create_table(
        "appeal",
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("note", sa.String(), nullable=False),
        sa.Column("opened_by", sa.String(length=200), nullable=False),
        sa.Column("opened_at", sa.DateTime(), nullable=False),
        sa.Column("appealed_decision_id", sa.Integer(), nullable=False),
        sa.Column("appealed_reviewer", sa.String(length=200), nullable=False),
        sa.Column("appealed_label", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("outcome_decision_id", sa.Integer(), nullable=True),
        sa.Column("decided_by", sa.String(length=200), nullable=True),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["item.id"]),
        sa.ForeignKeyConstraint(["appealed_decision_id"], ["decision.id"]),
        sa.ForeignKeyConstraint(["outcome_decision_id"], ["decision.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_appeal_item_status", "appeal", ["item_id", "status"], unique=False)
    op.create_table(
        "export_secret",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("export_secret")
    op.drop_index("ix_appeal_item_status", table_name="appeal")
    op.drop_table("appeal")
    op.drop_table("gold_item")
