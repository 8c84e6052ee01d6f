"""Referrals: `item.notice_type` (how the item was found: trusted_flagger, notice,
own_initiative) and `item.trusted_flagger` (the organisation behind a trusted source),
for the referral, statement and transparency reports.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_reports_referrals"
down_revision: str | Sequence[str] | None = "0014_exposure"


def upgrade() -> None:
    with op.batch_alter_table("item", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "notice_type",
                sa.String(length=20),
                nullable=False,
                server_default="own_initiative",
            )
        )
        batch_op.add_column(sa.Column("trusted_flagger", sa.String(length=200), nullable=True))
    # Items stored before this migration: a user report makes them notices.
    op.execute("UPDATE item SET notice_type = 'notice' WHERE report_count > 0")
    with op.batch_alter_table("item", schema=None) as batch_op:
        batch_op.alter_column("notice_type", server_default=None)
        batch_op.create_index("ix_item_notice_source", ["notice_type", "source"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("item", schema=None) as batch_op:
        batch_op.drop_index("ix_item_notice_source")
        batch_op.drop_column("trusted_flagger")
        batch_op.drop_column("notice_type")
