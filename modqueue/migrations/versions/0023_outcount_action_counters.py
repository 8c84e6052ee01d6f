"""Outbound action counters per policy and status (`action_counter`), kept by triggers on
`outbound_action`, and backfilled from the actions already stored.

The stats and the lead dashboard count outbound actions by status (and by policy); with a
takedown for a third of the decisions that table holds about a million rows at ten
million items, and grouping it was a full read on every refresh. The counters move in the
same transaction as every insert, status change and delete, whoever writes, as
`queue_counter` does for items (migration `0019_hotpath_counters`).

Revision ID: 0023_outcount_action_counters
Revises: 0022_scale_read_indexes
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023_outcount_action_counters"
down_revision: str | Sequence[str] | None = "0022_scale_read_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SLOTS = 8  # modqueue.queue._core.counter_models.ACTION_COUNTER_SLOTS

_SLOT = f"pg_backend_pid() % {SLOTS}"
_PG = [
    # A batch of outbox rows (a decision, a cluster or bulk decide) is counted once per
    # statement, from its transition table.
    f"""
    CREATE FUNCTION modqueue_count_actions_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO action_counter (policy, status, slot, n)
        SELECT policy, status, {_SLOT}, count(*) FROM new_actions GROUP BY policy, status
        ON CONFLICT (policy, status, slot) DO UPDATE SET n = action_counter.n + excluded.n;
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER outbound_action_count_inserted AFTER INSERT ON outbound_action
    REFERENCING NEW TABLE AS new_actions FOR EACH STATEMENT
    EXECUTE FUNCTION modqueue_count_actions_inserted()
    """,
    f"""
    CREATE FUNCTION modqueue_count_actions_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO action_counter (policy, status, slot, n)
        SELECT policy, status, {_SLOT}, -count(*) FROM old_actions GROUP BY policy, status
        ON CONFLICT (policy, status, slot) DO UPDATE SET n = action_counter.n + excluded.n;
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER outbound_action_count_deleted AFTER DELETE ON outbound_action
    REFERENCING OLD TABLE AS old_actions FOR EACH STATEMENT
    EXECUTE FUNCTION modqueue_count_actions_deleted()
    """,
    # The dispatcher moves one action at a time: a row trigger, only on a real change.
    f"""
    CREATE FUNCTION modqueue_count_actions_moved() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO action_counter (policy, status, slot, n)
        VALUES (OLD.policy, OLD.status, {_SLOT}, -1), (NEW.policy, NEW.status, {_SLOT}, 1)
        ON CONFLICT (policy, status, slot) DO UPDATE SET n = action_counter.n + excluded.n;
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER outbound_action_count_moved AFTER UPDATE OF policy, status
    ON outbound_action FOR EACH ROW
    WHEN (OLD.policy IS DISTINCT FROM NEW.policy OR OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION modqueue_count_actions_moved()
    """,
]

_SQLITE_BUMP = (
    "INSERT INTO action_counter (policy, status, slot, n) VALUES ({p}, {s}, 0, {d}) "
    "ON CONFLICT (policy, status, slot) DO UPDATE SET n = n + excluded.n;"
)
_SQLITE = [
    "CREATE TRIGGER outbound_action_count_inserted AFTER INSERT ON outbound_action BEGIN "
    + _SQLITE_BUMP.format(p="NEW.policy", s="NEW.status", d="1")
    + " END",
    "CREATE TRIGGER outbound_action_count_deleted AFTER DELETE ON outbound_action BEGIN "
    + _SQLITE_BUMP.format(p="OLD.policy", s="OLD.status", d="-1")
    + " END",
    "CREATE TRIGGER outbound_action_count_moved AFTER UPDATE OF policy, status "
    "ON outbound_action "
    "WHEN OLD.policy IS NOT NEW.policy OR OLD.status IS NOT NEW.status BEGIN "
    + _SQLITE_BUMP.format(p="OLD.policy", s="OLD.status", d="-1")
    + " "
    + _SQLITE_BUMP.format(p="NEW.policy", s="NEW.status", d="1")
    + " END",
]

_NAMES = ("inserted", "deleted", "moved")


def upgrade() -> None:
    op.create_table(
        "action_counter",
        sa.Column("policy", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("policy", "status", "slot"),
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        # No action may change between the backfill and the triggers taking over.
        op.execute("LOCK TABLE outbound_action IN SHARE ROW EXCLUSIVE MODE")
    op.execute(
        "INSERT INTO action_counter (policy, status, slot, n) "
        "SELECT policy, status, 0, count(*) FROM outbound_action GROUP BY policy, status"
    )
    for statement in _PG if postgres else _SQLITE:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name in _NAMES:
            op.execute(f"DROP TRIGGER outbound_action_count_{name} ON outbound_action")
            op.execute(f"DROP FUNCTION modqueue_count_actions_{name}()")
    else:
        for name in _NAMES:
            op.execute(f"DROP TRIGGER outbound_action_count_{name}")
    op.drop_table("action_counter")
