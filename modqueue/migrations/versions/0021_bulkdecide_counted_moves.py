"""PostgreSQL: a set-based item update may count its own moves in `queue_counter`.

The row trigger `item_count_moved` (`0019_hotpath_counters`) upserts two counter rows per
item whose queue or status changes. For one claim or decision that is cheap; for a set
decision of 10,000 items in one transaction it upserts the same few counter rows 20,000
times, and every upsert walks the chain of row versions the transaction itself left
behind (none can be pruned before commit): most of the time of the whole decision. The
trigger now stands aside while the transaction-local setting `modqueue.counted_moves` is
`on`; a set-based update that sets it (`queue._decisions.bulk`) moves the counters
itself, in the same statement, with one upsert per `(queue, status)` it touched.
Everything else is counted by the trigger as before. SQLite is unchanged (its row
trigger does not have this cost).

Revision ID: 0021_bulkdecide_counted_moves
Revises: 0020_scale_audit_partitions
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0021_bulkdecide_counted_moves"
down_revision: str | Sequence[str] | None = "0020_scale_audit_partitions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_MOVED = "OLD.queue IS DISTINCT FROM NEW.queue OR OLD.status IS DISTINCT FROM NEW.status"
_TRIGGER = (
    "CREATE TRIGGER item_count_moved AFTER UPDATE OF queue, status ON item FOR EACH ROW "
    "WHEN ({when}) EXECUTE FUNCTION modqueue_count_moved()"
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER item_count_moved ON item")
    op.execute(
        _TRIGGER.format(
            when=f"({_MOVED}) AND current_setting('modqueue.counted_moves', true) "
            "IS DISTINCT FROM 'on'"
        )
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER item_count_moved ON item")
    op.execute(_TRIGGER.format(when=_MOVED))
