"""The candidate lookup of fingerprinting reads `fingerprint_band` from one index.

`assign_clusters` asks `SELECT key, item_id FROM fingerprint_band WHERE key IN (...)`
for every band key of an ingest batch (about 12,000 per 1,000 items of a flood). With
the index on `key` alone each key found its index entries and then each row in the
table for `item_id`; `ix_fingerprint_band_key_item` (`key, item_id`) answers from the
index alone (SQLite's covering index, PostgreSQL's index-only scan), half the work of
the lookup on SQLite. It replaces `ix_fingerprint_band_key`, whose lookups (by key, or
by a range of keys as in migration 0024) it serves as well.

Revision ID: 0027_fpingest2_band_covering
Revises: 0026_claim10m_claimable_policy
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0027_fpingest2_band_covering"
down_revision: str | Sequence[str] | None = "0026_claim10m_claimable_policy"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # One pass over `fingerprint_band` (one sort), then the old index is dropped.
    op.create_index(
        "ix_fingerprint_band_key_item", "fingerprint_band", ["key", "item_id"], unique=False
    )
    op.drop_index("ix_fingerprint_band_key", table_name="fingerprint_band")


def downgrade() -> None:
    op.create_index("ix_fingerprint_band_key", "fingerprint_band", ["key"], unique=False)
    op.drop_index("ix_fingerprint_band_key_item", table_name="fingerprint_band")
