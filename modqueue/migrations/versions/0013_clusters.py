"""Clusters: `content_cluster` (copies of one piece of content under one policy),
`cluster_decision` (one decision over a cluster), `item.cluster_id` and
`decision.cluster_decision_id`.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_clusters"
down_revision: str | Sequence[str] | None = "0012_model_registry_modelloop"


def upgrade() -> None:
    op.create_table(
        "content_cluster",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("policy", sa.String(length=100), nullable=True),
        sa.Column("queue", sa.String(length=200), nullable=False),
        sa.Column("representative_item_id", sa.Integer(), nullable=True),
        sa.Column("member_count", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("content_cluster", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_content_cluster_policy"), ["policy"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_content_cluster_representative_item_id"),
            ["representative_item_id"],
            unique=False,
        )
    op.create_table(
        "cluster_decision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cluster_id", sa.Integer(), nullable=False),
        sa.Column("reviewer", sa.String(length=200), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("guideline_id", sa.String(length=100), nullable=False),
        sa.Column("guideline_version", sa.String(length=80), nullable=False),
        sa.Column("decided_at", sa.DateTime(), nullable=False),
        sa.Column("origin", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("member_count", sa.Integer(), nullable=False),
        sa.Column("excluded", sa.JSON(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["cluster_id"], ["content_cluster.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("cluster_decision", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_cluster_decision_cluster_id"), ["cluster_id"], unique=False
        )
    with op.batch_alter_table("item", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cluster_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_item_cluster_id"), ["cluster_id"], unique=False)
        batch_op.create_foreign_key(
            "fk_item_cluster_id_content_cluster", "content_cluster", ["cluster_id"], ["id"]
        )
    with op.batch_alter_table("decision", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cluster_decision_id", sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_decision_cluster_decision_id"), ["cluster_decision_id"], unique=False
        )
        batch_op.create_foreign_key(
            "fk_decision_cluster_decision_id_cluster_decision",
            "cluster_decision",
            ["cluster_decision_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("decision", schema=None) as batch_op:
        batch_op.drop_constraint(
            "fk_decision_cluster_decision_id_cluster_decision", type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_decision_cluster_decision_id"))
        batch_op.drop_column("cluster_decision_id")
    with op.batch_alter_table("item", schema=None) as batch_op:
        batch_op.drop_constraint("fk_item_cluster_id_content_cluster", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_item_cluster_id"))
        batch_op.drop_column("cluster_id")
    with op.batch_alter_table("cluster_decision", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cluster_decision_cluster_id"))
    op.drop_table("cluster_decision")
    with op.batch_alter_table("content_cluster", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_content_cluster_representative_item_id"))
        batch_op.drop_index(batch_op.f("ix_content_cluster_policy"))
    op.drop_table("content_cluster")
