"""Fingerprints and the known-content bank: `item_fingerprint` (an item's text MinHash,
media digests, PDQ hashes, bank matches), `fingerprint_band` (candidate keys copies
share) and `known_content` (fingerprints of confirmed removals, shareable).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_match_fingerprints"
down_revision: str | Sequence[str] | None = "0014_exposure"


def upgrade() -> None:
    op.create_table(
        "item_fingerprint",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["item.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("item_fingerprint", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_item_fingerprint_item_id"), ["item_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_item_fingerprint_kind"), ["kind"], unique=False)
    op.create_table(
        "fingerprint_band",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.BigInteger(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["item.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("fingerprint_band", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_fingerprint_band_key"), ["key"], unique=False)
        batch_op.create_index(batch_op.f("ix_fingerprint_band_item_id"), ["item_id"], unique=False)
    op.create_table(
        "known_content",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("value_key", sa.String(length=64), nullable=False),
        sa.Column("policy", sa.String(length=100), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("distance", sa.Integer(), nullable=True),
        sa.Column("origin", sa.String(length=20), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "value_key", "policy", "label", name="uq_known_content"),
    )
    with op.batch_alter_table("known_content", schema=None) as batch_op:
        batch_op.create_index("ix_known_content_kind", ["kind"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("known_content", schema=None) as batch_op:
        batch_op.drop_index("ix_known_content_kind")
    op.drop_table("known_content")
    with op.batch_alter_table("fingerprint_band", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fingerprint_band_item_id"))
        batch_op.drop_index(batch_op.f("ix_fingerprint_band_key"))
    op.drop_table("fingerprint_band")
    with op.batch_alter_table("item_fingerprint", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_item_fingerprint_kind"))
        batch_op.drop_index(batch_op.f("ix_item_fingerprint_item_id"))
    op.drop_table("item_fingerprint")
