"""The claim order of the non-senior queues carries each item's policy (issue 17).

A reviewer past the near mark of their exposure budget may not be handed the graphic
policies (`ClaimHold`): on PostgreSQL the claim then stepped over every graphic item on
top of the priority order, fetching each one's heap row only to read its policy (at
10,000,000 items: 600 rows and 700 buffers a claim). With the policy in
`ix_item_pending_claimable` (`INCLUDE (policy)`) the claim's candidate search reads
the order as an index-only scan and steps over held-back items inside the index; only
the item it takes is locked and read (`_claims.leases`). And the first item of each
policy is found without walking at all: `ix_item_pending_claimable_policy` (`policy,
priority DESC, id`, same condition) gives the distinct policies (one probe each) and
each one's first item, of which a held reviewer's claim takes the best allowed
(`_claims.candidates`).

Every claim under an exposure hold also sums the reviewer's exposure this shift (one
row per item shown: 1,200 rows and 300 heap buffers for a busy reviewer);
`ix_exposure_event_reviewer_at` with `INCLUDE (points)` makes that sum an index-only
scan (14 buffers; rows newer than the last vacuum are still read from the heap).

PostgreSQL only: the claim index is built under a new name, then the old one is dropped and
the new one renamed, so the exclusive lock of the drop is held for a moment, not for the
build (which takes `item`'s SHARE lock: reads go on, writes wait; about a minute at
10,000,000 items; as much again for the policy index). SQLite keeps its index: it has no `INCLUDE`, and its claim reads the
table row of each candidate anyway.

Revision ID: 0026_claim10m_claimable_policy
Revises: 0025_claim_claimable_index
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026_claim10m_claimable_policy"
down_revision: str | Sequence[str] | None = "0025_claim_claimable_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# `\\:` is a colon, not the start of a bound parameter (`text` would bind `:senior`).
CLAIMABLE = sa.text(r"status = 'pending' AND queue NOT LIKE '%\:senior'")
NAME = "ix_item_pending_claimable"
BUILDING = "ix_item_pending_claimable_build"
BY_POLICY = "ix_item_pending_claimable_policy"


EXPOSURE = "ix_exposure_event_reviewer_at"
EXPOSURE_BUILDING = "ix_exposure_event_reviewer_at_build"


def _swap(include: list[str]) -> None:
    op.create_index(
        BUILDING,
        "item",
        [sa.text("priority DESC"), "id"],
        postgresql_where=CLAIMABLE,
        postgresql_include=include,
    )
    op.drop_index(NAME, table_name="item")
    op.execute(f"ALTER INDEX {BUILDING} RENAME TO {NAME}")


def _swap_exposure(include: list[str]) -> None:
    op.create_index(
        EXPOSURE_BUILDING, "exposure_event", ["reviewer", "at"], postgresql_include=include
    )
    op.drop_index(EXPOSURE, table_name="exposure_event")
    op.execute(f"ALTER INDEX {EXPOSURE_BUILDING} RENAME TO {EXPOSURE}")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _swap(["policy"])
        _swap_exposure(["points"])
        op.create_index(
            BY_POLICY,
            "item",
            ["policy", sa.text("priority DESC"), "id"],
            postgresql_where=CLAIMABLE,
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index(BY_POLICY, table_name="item")
        _swap_exposure([])
        _swap([])
