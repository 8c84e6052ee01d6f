"""Item counters per queue and status (`queue_counter`), kept by triggers on `item`, and
backfilled from the items already stored.

Revision ID: 0019_hotpath_counters
Revises: 0018_clusterdesk_floods
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019_hotpath_counters"
down_revision: str | Sequence[str] | None = "0018_clusterdesk_floods"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SLOTS = 8  # modqueue.queue._core.counter_models.QUEUE_COUNTER_SLOTS

_PG = [
    # A batch insert (ingest) is counted once per statement, from its transition table.
    """
    CREATE FUNCTION modqueue_count_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO queue_counter (queue, status, slot, n)
        SELECT queue, status, pg_backend_pid() % """
    + str(SLOTS)
    + """, count(*) FROM new_items GROUP BY queue, status
        ON CONFLICT (queue, status, slot) DO UPDATE SET n = queue_counter.n + excluded.n;
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER item_count_inserted AFTER INSERT ON item
    REFERENCING NEW TABLE AS new_items FOR EACH STATEMENT
    EXECUTE FUNCTION modqueue_count_inserted()
    """,
    """
    CREATE FUNCTION modqueue_count_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO queue_counter (queue, status, slot, n)
        SELECT queue, status, pg_backend_pid() % """
    + str(SLOTS)
    + """, -count(*) FROM old_items GROUP BY queue, status
        ON CONFLICT (queue, status, slot) DO UPDATE SET n = queue_counter.n + excluded.n;
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER item_count_deleted AFTER DELETE ON item
    REFERENCING OLD TABLE AS old_items FOR EACH STATEMENT
    EXECUTE FUNCTION modqueue_count_deleted()
    """,
    # A claim, decision or move changes one row: a row trigger, only when the queue or
    # the status changed.
    """
    CREATE FUNCTION modqueue_count_moved() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO queue_counter (queue, status, slot, n)
        VALUES (OLD.queue, OLD.status, pg_backend_pid() % """
    + str(SLOTS)
    + """, -1),
               (NEW.queue, NEW.status, pg_backend_pid() % """
    + str(SLOTS)
    + """, 1)
        ON CONFLICT (queue, status, slot) DO UPDATE SET n = queue_counter.n + excluded.n;
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER item_count_moved AFTER UPDATE OF queue, status ON item FOR EACH ROW
    WHEN (OLD.queue IS DISTINCT FROM NEW.queue OR OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION modqueue_count_moved()
    """,
]

_SQLITE_BUMP = (
    "INSERT INTO queue_counter (queue, status, slot, n) VALUES ({q}, {s}, 0, {d}) "
    "ON CONFLICT (queue, status, slot) DO UPDATE SET n = n + excluded.n;"
)
_SQLITE = [
    "CREATE TRIGGER item_count_inserted AFTER INSERT ON item BEGIN "
    + _SQLITE_BUMP.format(q="NEW.queue", s="NEW.status", d="1")
    + " END",
    "CREATE TRIGGER item_count_deleted AFTER DELETE ON item BEGIN "
    + _SQLITE_BUMP.format(q="OLD.queue", s="OLD.status", d="-1")
    + " END",
    "CREATE TRIGGER item_count_moved AFTER UPDATE OF queue, status ON item "
    "WHEN OLD.queue IS NOT NEW.queue OR OLD.status IS NOT NEW.status BEGIN "
    + _SQLITE_BUMP.format(q="OLD.queue", s="OLD.status", d="-1")
    + " "
    + _SQLITE_BUMP.format(q="NEW.queue", s="NEW.status", d="1")
    + " END",
]


def upgrade() -> None:
    op.create_table(
        "queue_counter",
        sa.Column("queue", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("queue", "status", "slot"),
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        # No item may change between the backfill and the triggers taking over.
        op.execute("LOCK TABLE item IN SHARE ROW EXCLUSIVE MODE")
    op.execute(
        "INSERT INTO queue_counter (queue, status, slot, n) "
        "SELECT queue, status, 0, count(*) FROM item GROUP BY queue, status"
    )
    for statement in _PG if postgres else _SQLITE:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name in ("inserted", "deleted", "moved"):
            op.execute(f"DROP TRIGGER item_count_{name} ON item")
            op.execute(f"DROP FUNCTION modqueue_count_{name}()")
    else:
        for name in ("inserted", "deleted", "moved"):
            op.execute(f"DROP TRIGGER item_count_{name}")
    op.drop_table("queue_counter")
