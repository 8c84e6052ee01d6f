"""Label Studio annotators as reviewers: `reviewer.labelstudio_email` and the refusals.

`reviewer.labelstudio_email` (nullable, unique, stored in lower case) links a reviewer
to their Label Studio account; `labelstudio_refusal` keeps the annotations the pull
refused, so that a later pull applies them once the link or grant is fixed.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_reviewer_labelstudio"
down_revision: str | Sequence[str] | None = "0010_audit_chains"


def upgrade() -> None:
    with op.batch_alter_table("reviewer", schema=None) as batch_op:
        batch_op.add_column(sa.Column("labelstudio_email", sa.String(length=254), nullable=True))
        batch_op.create_unique_constraint("uq_reviewer_labelstudio_email", ["labelstudio_email"])
    op.create_table(
        "labelstudio_refusal",
        sa.Column("annotation_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("labelstudio_email", sa.String(length=254), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("refused_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["item.id"]),
        sa.PrimaryKeyConstraint("annotation_id"),
    )
    with op.batch_alter_table("labelstudio_refusal", schema=None) as batch_op:
        batch_op.create_index(
            "ix_labelstudio_refusal_task", ["project_id", "task_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_labelstudio_refusal_item_id"), ["item_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("labelstudio_refusal", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_labelstudio_refusal_item_id"))
        batch_op.drop_index("ix_labelstudio_refusal_task")
    op.drop_table("labelstudio_refusal")
    with op.batch_alter_table("reviewer", schema=None) as batch_op:
        batch_op.drop_constraint("uq_reviewer_labelstudio_email", type_="unique")
        batch_op.drop_column("labelstudio_email")
