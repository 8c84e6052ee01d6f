"""Fewer index entries per update of `item`, and its autovacuum by dead rows (issue 17).

Every claim, release and decision updates an `item` row, and none of them is a HOT
update (`status` is in the pending indexes' conditions): each new row version gets an
entry in every index whose condition it meets, a random leaf page of a 10,000,000-entry
index to read (from disk when not cached) and to dirty (a full-page image in the WAL
after each checkpoint). Two of those indexes served no query on their rows:

- `ix_item_notice_source` (`notice_type, source`): no query filters on `notice_type`
  (the transparency report groups by it over a period of `flagged_at`), and those by
  `source` read `uq_item_source_external_id`. Dropped.
- `ix_item_cluster_id`: every query of it asks for a cluster (`cluster_id = ...`,
  `IN (...)`, the foreign key's check), so the items outside any cluster (all of them
  with fingerprinting off, else those with no copy found) need no entry. Now partial
  (`WHERE cluster_id IS NOT NULL`), which both planners use for those conditions.

A claim now writes 5 index entries of `item` instead of 7, a release 11 instead of 13, a
decision 4 instead of 6.

A decided item's entry in the pending indexes stays where claims look first: at the
head of the priority order (`ix_item_pending_claimable`) and of each policy's range
(`ix_item_pending_claimable_policy`). Scans step over such entries (marked dead after a
first visit, but still on their pages) until a VACUUM removes them; PostgreSQL's
default autovacuum waits for a fifth of the table to be dead, two million row versions
at 10,000,000 items. Measured there: the claim statement read 695 buffers before
`VACUUM item`, 208 after (`bench/RESULTS_scale.md`, "claim7"). So `item` is vacuumed
once `1000 + 0.5%` of its rows are dead (51,000 at 10,000,000 items, 1,500 at
100,000), always with its indexes (`vacuum_index_cleanup = on`: PostgreSQL 14 and later
otherwise skip them when fewer than 2% of the table's pages hold dead rows, and the dead
index entries are what claims step over); statistics follow at 2% of the rows changed.

Cost at 10,000,000 items: the storage parameters and the drop are instant; the partial
index is built in one pass over the table (on the 10M benchmark database, built with
`CREATE INDEX CONCURRENTLY`, i.e. two passes, at load 9: 46 s). SQLite has no
autovacuum; its two indexes change as PostgreSQL's.

Revision ID: 0031_claim7_item_autovacuum
Revises: 0030_dash4_handling_buckets
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0031_claim7_item_autovacuum"
down_revision: str | Sequence[str] | None = "0030_dash4_handling_buckets"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ITEM_AUTOVACUUM = {
    "autovacuum_vacuum_scale_factor": "0.005",
    "autovacuum_vacuum_threshold": "1000",
    "autovacuum_analyze_scale_factor": "0.02",
    "vacuum_index_cleanup": "on",
}
IN_A_CLUSTER = sa.text("cluster_id IS NOT NULL")


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    # IF EXISTS: the benchmark database had these applied by hand, concurrently.
    op.execute("DROP INDEX IF EXISTS ix_item_notice_source")
    op.execute("DROP INDEX IF EXISTS ix_item_cluster_id")
    op.create_index(
        "ix_item_cluster_id",
        "item",
        ["cluster_id"],
        postgresql_where=IN_A_CLUSTER,
        sqlite_where=IN_A_CLUSTER,
    )
    if postgresql:
        settings = ", ".join(f"{name} = {value}" for name, value in ITEM_AUTOVACUUM.items())
        op.execute(f"ALTER TABLE item SET ({settings})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE item RESET ({', '.join(ITEM_AUTOVACUUM)})")
    op.drop_index("ix_item_cluster_id", table_name="item")
    op.create_index("ix_item_cluster_id", "item", ["cluster_id"])
    op.create_index("ix_item_notice_source", "item", ["notice_type", "source"])
