"""Floods: `flood_incident` (many items from one origin folded for the lead),
`flood_member`, `flood_hit` (items counted towards a threshold, kept for one window) and
`flood_rule` (a muted reporter, an unreliable signal source)."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018_clusterdesk_floods"
down_revision: str | Sequence[str] | None = "0017_match_fingerprints"


def upgrade() -> None:
    op.create_table(
        "flood_incident",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("key", sa.String(length=500), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("item_count", sa.Integer(), nullable=False),
        sa.Column("opened_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.Column("closed_by", sa.String(length=200), nullable=True),
        sa.Column("label", sa.String(length=100), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_flood_incident_kind_key", "flood_incident", ["kind", "key", "status"])
    op.create_table(
        "flood_member",
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("added_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["incident_id"], ["flood_incident.id"]),
        sa.ForeignKeyConstraint(["item_id"], ["item.id"]),
        sa.PrimaryKeyConstraint("incident_id", "item_id"),
    )
    op.create_index("ix_flood_member_item", "flood_member", ["item_id"])
    op.create_table(
        "flood_hit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("key", sa.String(length=500), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["item.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "key", "item_id", name="uq_flood_hit"),
    )
    op.create_index("ix_flood_hit_kind_key_at", "flood_hit", ["kind", "key", "at"])
    op.create_index("ix_flood_hit_at", "flood_hit", ["at"])
    op.create_table(
        "flood_rule",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("key", sa.String(length=500), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("set_by", sa.String(length=200), nullable=False),
        sa.Column("set_at", sa.DateTime(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "key", name="uq_flood_rule"),
    )


def downgrade() -> None:
    op.drop_table("flood_rule")
    op.drop_index("ix_flood_hit_at", table_name="flood_hit")
    op.drop_index("ix_flood_hit_kind_key_at", table_name="flood_hit")
    op.drop_table("flood_hit")
    op.drop_index("ix_flood_member_item", table_name="flood_member")
    op.drop_table("flood_member")
    op.drop_index("ix_flood_incident_kind_key", table_name="flood_incident")
    op.drop_table("flood_incident")
