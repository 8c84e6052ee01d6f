"""Decisions record whether they missed their item's deadline, and the dashboard reads a
window of decisions from one covering index.

The lead dashboard counts, per queue, the decisions of the last hours made after their
item's deadline. It probed `item` for `deadline_at` once per decision in the window: a
random read into the largest table per decision, linear in the window's decisions (183
ms at 7,000 decisions on 10,000,000 items). `decision.after_deadline` is now set by the
decision module when the decision is written (`decided_at > deadline_at`, the deadline
the item had then; the item's row is locked for the decision anyway), and
`ix_decision_decided_window` (`decided_at`, `guideline_id`, `kind`, `origin`, `status`,
`after_deadline`, `seconds_spent`) holds every column the dashboard reads of a window's
decisions: an index-only range scan on PostgreSQL, a covering index on SQLite. It
replaces `ix_decision_decided_at`, whose range reads (by `decided_at`) it serves as well.

`decision_minute` counts the standing decisions (not undone) per guideline, kind,
origin and minute of `decided_at`, and the late ones among them: the dashboard's hourly
series and missed deadlines sum counter rows (a few per minute of the window) and read
only the decisions of the minutes an hour slot starts in. Triggers on `decision` keep it
in the same transaction as every insert, update and delete, whoever writes: on
PostgreSQL statement-level ones with transition tables (a set decision of 10,000 items
is one grouped upsert, in key order so that two of them lock counter rows in the same
order; an undo of a cluster decision too); row triggers on SQLite. A counter row is one
minute of one guideline, kind and origin: concurrent decisions share it only within that
minute (no slots per backend process as `queue_counter` has: they would multiply the
rows the dashboard reads by up to their number).

The backfill: the column is added with default false (no table rewrite on PostgreSQL),
then only the decisions that were made after their item's deadline are updated, then the
counters are added up; both in batches of decision ids (one set-based statement each),
with `decision` locked against writes until the triggers are in place. The index is
built after it.

Revision ID: 0029_dash3_after_deadline
Revises: 0028_export3_content_split
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0029_dash3_after_deadline"
down_revision: str | Sequence[str] | None = "0028_export3_content_split"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 250_000
"""Decision ids per backfill statement."""

_WINDOW_COLUMNS = [
    "decided_at",
    "guideline_id",
    "kind",
    "origin",
    "status",
    "after_deadline",
    "seconds_spent",
]  # modqueue.queue._core.models.DECISION_WINDOW_COLUMNS

_PG_MINUTE = "(floor(extract(epoch FROM {r}.decided_at) / 60))::bigint"
_SQLITE_MINUTE = "(CAST(strftime('%s', substr({r}.decided_at, 1, 19)) AS INTEGER) / 60)"
_KEYS = "minute, guideline_id, kind, origin"
_PG_ADD = (
    f"ON CONFLICT ({_KEYS}) DO UPDATE SET n = decision_minute.n + excluded.n, "
    "late = decision_minute.late + excluded.late"
)


def _pg_counted(rows: str, sign: str) -> str:
    """`rows`' standing decisions per counter row, as `sign`ed (n, late)."""
    return (
        f"SELECT {_PG_MINUTE.format(r=rows)} AS minute, guideline_id, kind, origin, "
        f"{sign}1 AS n, CASE WHEN after_deadline THEN {sign}1 ELSE 0 END AS late "
        f"FROM {rows} WHERE status <> 'undone'"
    )


def _pg_bump(*parts: str) -> str:
    """Add the grouped rows of `parts` to the counters, in key order."""
    union = " UNION ALL ".join(parts)
    return (
        f"INSERT INTO decision_minute ({_KEYS}, n, late) "
        f"SELECT {_KEYS}, sum(n), sum(late) FROM ({union}) AS moved GROUP BY {_KEYS} "
        f"HAVING sum(n) <> 0 OR sum(late) <> 0 ORDER BY {_KEYS} {_PG_ADD}"
    )


def _pg_trigger(name: str, when: str, tables: str, body: str) -> list[str]:
    return [
        f"""
        CREATE FUNCTION modqueue_count_decisions_{name}() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            {body};
            RETURN NULL;
        END $$
        """,
        f"""
        CREATE TRIGGER decision_count_{name} AFTER {when} ON decision
        REFERENCING {tables} FOR EACH STATEMENT
        EXECUTE FUNCTION modqueue_count_decisions_{name}()
        """,
    ]


_PG = [
    *_pg_trigger(
        "inserted", "INSERT", "NEW TABLE AS new_rows", _pg_bump(_pg_counted("new_rows", ""))
    ),
    *_pg_trigger(
        "deleted", "DELETE", "OLD TABLE AS old_rows", _pg_bump(_pg_counted("old_rows", "-"))
    ),
    *_pg_trigger(
        "updated",
        "UPDATE",
        "OLD TABLE AS old_rows NEW TABLE AS new_rows",
        _pg_bump(_pg_counted("old_rows", "-"), _pg_counted("new_rows", "")),
    ),
]


def _sqlite_bump(row: str, sign: str) -> str:
    return (
        f"INSERT INTO decision_minute ({_KEYS}, n, late) VALUES "
        f"({_SQLITE_MINUTE.format(r=row)}, {row}.guideline_id, {row}.kind, {row}.origin, "
        f"{sign}1, CASE WHEN {row}.after_deadline THEN {sign}1 ELSE 0 END) "
        f"ON CONFLICT ({_KEYS}) DO UPDATE SET n = n + excluded.n, late = late + excluded.late;"
    )


_COUNTED = "status, decided_at, guideline_id, kind, origin, after_deadline"
_SQLITE = [
    "CREATE TRIGGER decision_count_inserted AFTER INSERT ON decision "
    f"WHEN NEW.status <> 'undone' BEGIN {_sqlite_bump('NEW', '')} END",
    "CREATE TRIGGER decision_count_deleted AFTER DELETE ON decision "
    f"WHEN OLD.status <> 'undone' BEGIN {_sqlite_bump('OLD', '-')} END",
    f"CREATE TRIGGER decision_count_left AFTER UPDATE OF {_COUNTED} ON decision "
    f"WHEN OLD.status <> 'undone' BEGIN {_sqlite_bump('OLD', '-')} END",
    f"CREATE TRIGGER decision_count_entered AFTER UPDATE OF {_COUNTED} ON decision "
    f"WHEN NEW.status <> 'undone' BEGIN {_sqlite_bump('NEW', '')} END",
]

_PG_COUNT = sa.text(
    f"INSERT INTO decision_minute ({_KEYS}, n, late) "
    f"SELECT {_PG_MINUTE.format(r='decision')}, guideline_id, kind, origin, count(*), "
    "count(*) FILTER (WHERE after_deadline) FROM decision "
    "WHERE id >= :low AND id < :high AND status <> 'undone' "
    f"GROUP BY 1, guideline_id, kind, origin {_PG_ADD}"
)
_SQLITE_COUNT = sa.text(
    f"INSERT INTO decision_minute ({_KEYS}, n, late) "
    f"SELECT {_SQLITE_MINUTE.format(r='decision')}, guideline_id, kind, origin, count(*), "
    "sum(after_deadline) FROM decision "
    "WHERE id >= :low AND id < :high AND status <> 'undone' "
    "GROUP BY 1, guideline_id, kind, origin "
    f"ON CONFLICT ({_KEYS}) DO UPDATE SET n = n + excluded.n, late = late + excluded.late"
)

_PG_BACKFILL = sa.text(
    "UPDATE decision AS d SET after_deadline = true FROM item AS i "
    "WHERE d.id >= :low AND d.id < :high AND i.id = d.item_id AND d.decided_at > i.deadline_at"
)
_SQLITE_BACKFILL = sa.text(
    "UPDATE decision SET after_deadline = 1 WHERE id >= :low AND id < :high "
    "AND decided_at > (SELECT deadline_at FROM item WHERE item.id = decision.item_id)"
)


def _batched(statement: sa.TextClause) -> None:
    """Run `statement` over every range of `BATCH` decision ids."""
    bind = op.get_bind()
    first, last = bind.execute(sa.text("SELECT min(id), max(id) FROM decision")).one()
    low = first
    while low is not None and low <= last:
        bind.execute(statement, {"low": low, "high": low + BATCH})
        low += BATCH


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        # No decision may change between the backfill and the triggers taking over.
        op.execute("LOCK TABLE decision IN SHARE ROW EXCLUSIVE MODE")
    op.add_column(
        "decision",
        sa.Column("after_deadline", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    _batched(_PG_BACKFILL if postgres else _SQLITE_BACKFILL)
    op.create_table(
        "decision_minute",
        sa.Column("minute", sa.BigInteger(), nullable=False),
        sa.Column("guideline_id", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("origin", sa.String(length=40), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("late", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("minute", "guideline_id", "kind", "origin"),
    )
    _batched(_PG_COUNT if postgres else _SQLITE_COUNT)
    for statement in _PG if postgres else _SQLITE:
        op.execute(statement)
    op.create_index("ix_decision_decided_window", "decision", _WINDOW_COLUMNS, unique=False)
    op.drop_index("ix_decision_decided_at", table_name="decision")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name in ("inserted", "deleted", "updated"):
            op.execute(f"DROP TRIGGER decision_count_{name} ON decision")
            op.execute(f"DROP FUNCTION modqueue_count_decisions_{name}()")
    else:
        for name in ("inserted", "deleted", "left", "entered"):
            op.execute(f"DROP TRIGGER decision_count_{name}")
    op.drop_table("decision_minute")
    op.create_index("ix_decision_decided_at", "decision", ["decided_at"], unique=False)
    op.drop_index("ix_decision_decided_window", table_name="decision")
    with op.batch_alter_table("decision") as batch:
        batch.drop_column("after_deadline")
