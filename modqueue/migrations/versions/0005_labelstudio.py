"""Label Studio: one project per policy, one task per item sent."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_labelstudio"
down_revision: str | Sequence[str] | None = "0001_core"


def upgrade() -> None:
    op.create_table(
        "labelstudio_project",
        sa.Column("policy", sa.String(length=100), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("guideline_version", sa.String(length=80), nullable=False),
        sa.Column("config_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("policy"),
        sa.UniqueConstraint("project_id"),
    )
    op.create_table(
        "labelstudio_task",
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=True),
        sa.Column("batch", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("pushed_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["item.id"]),
        sa.PrimaryKeyConstraint("item_id"),
    )
    with op.batch_alter_table("labelstudio_task", schema=None) as batch_op:
        batch_op.create_index("ix_labelstudio_task_state", ["state", "project_id"], unique=False)
        batch_op.create_index(
            "ix_labelstudio_task_task_id", ["project_id", "task_id"], unique=False
        )
        batch_op.create_index("ix_labelstudio_task_batch", ["batch"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("labelstudio_task", schema=None) as batch_op:
        batch_op.drop_index("ix_labelstudio_task_batch")
        batch_op.drop_index("ix_labelstudio_task_task_id")
        batch_op.drop_index("ix_labelstudio_task_state")
    op.drop_table("labelstudio_task")
    op.drop_table("labelstudio_project")
