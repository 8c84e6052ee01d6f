"""`fingerprint_pdq`: the PDQ hashes copies are found by, searched in memory
(`_items/pdq_store.py`) instead of by 272 chunk keys per image in `fingerprint_band`.

Upgrade, set-based in item id ranges: one row per PDQ hash of each item in no cluster
and per distinct PDQ hash of each cluster (from `item_fingerprint`), then the PDQ chunk
keys are deleted from `fingerprint_band` (nothing looks them up any more). On PostgreSQL
`xact` defaults to the writing transaction's id (`pg_current_xact_id()`), by which other
processes find rows committed out of id order; SQLite ids never repeat
(`AUTOINCREMENT`). Downgrade writes the 16 chunk keys of every stored PDQ hash back.

Revision ID: 0024_fpingest_pdq_store
Revises: 0023_outcount_action_counters
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024_fpingest_pdq_store"
down_revision: str | Sequence[str] | None = "0023_outcount_action_counters"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STEP = 100_000
"""Item ids per statement."""
_TAG_PDQ = 2 << 56
_TAG_SHA = 3 << 56


def _ranges() -> list[tuple[int, int]]:
    top = op.get_bind().execute(sa.text("SELECT coalesce(max(id), 0) FROM item")).scalar_one()
    return [(low, low + _STEP - 1) for low in range(0, int(top) + 1, _STEP)]


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.create_table(
        "fingerprint_pdq",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("value", sa.String(length=64), nullable=False),
        sa.Column(
            "xact",
            sa.BigInteger(),
            nullable=True,
            server_default=sa.text("(pg_current_xact_id()::text::bigint)") if postgres else None,
        ),
        sa.ForeignKeyConstraint(["item_id"], ["item.id"]),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_fingerprint_pdq_item_id", "fingerprint_pdq", ["item_id"])
    op.create_index("ix_fingerprint_pdq_xact", "fingerprint_pdq", ["xact"])
    conn = op.get_bind()
    for low, high in _ranges():
        conn.execute(
            sa.text(
                "INSERT INTO fingerprint_pdq (item_id, value) "
                "SELECT min(f.item_id), f.value FROM item_fingerprint f "
                "JOIN item i ON i.id = f.item_id "
                "WHERE f.kind = 'pdq' AND f.item_id BETWEEN :low AND :high "
                "GROUP BY coalesce(i.cluster_id, -f.item_id), f.value ORDER BY 1"
            ),
            {"low": low, "high": high},
        )
        conn.execute(
            sa.text(
                "DELETE FROM fingerprint_band WHERE key >= :first AND key < :after "
                "AND item_id BETWEEN :low AND :high"
            ),
            {"first": _TAG_PDQ, "after": _TAG_SHA, "low": low, "high": high},
        )


def downgrade() -> None:
    conn = op.get_bind()
    for low, high in _ranges():
        rows = conn.execute(
            sa.text(
                "SELECT item_id, value FROM fingerprint_pdq "
                "WHERE item_id BETWEEN :low AND :high ORDER BY id"
            ),
            {"low": low, "high": high},
        ).all()
        keys = [
            {"key": _TAG_PDQ | (i << 16) | int(value[i * 4 : i * 4 + 4], 16), "item_id": item}
            for item, value in rows
            for i in range(16)
        ]
        if keys:
            conn.execute(
                sa.text("INSERT INTO fingerprint_band (key, item_id) VALUES (:key, :item_id)"),
                keys,
            )
    op.drop_index("ix_fingerprint_pdq_xact", table_name="fingerprint_pdq")
    op.drop_index("ix_fingerprint_pdq_item_id", table_name="fingerprint_pdq")
    op.drop_table("fingerprint_pdq")
