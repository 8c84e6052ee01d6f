"""Handling-time counters per hour and bucket, so the dashboard's exact median reads only
the decisions of the middle bucket.

The lead dashboard's median handling time per queue is exact (`statistics.median` of the
window's standing human decisions). It read every such decision of the 12-hour window
(`ix_decision_decided_window`, index-only, plus a sort): linear in the window's
decisions, two thirds of the dashboard's time at 57,000 decisions. `decision_handling`
counts the standing decisions (not undone) per hour of `decided_at`, guideline, kind,
origin and handling-time bucket (`modqueue.queue._core.handling`: 165 ordered ranges of
`seconds_spent`), kept by triggers on `decision` in the same transaction as every insert,
update and delete, as `decision_minute` is (statement-level with transition tables on
PostgreSQL, row triggers on SQLite). `ix_decision_handling` orders the decisions by
guideline, bucket and `decided_at` (with kind, origin, status and seconds): the
decisions of one guideline's bucket since a time are one index range.

The dashboard sums the counters from the hour boundary nearest the window's start,
counts the decisions between that boundary and the start (half an hour at most) and so
knows each queue's count per bucket; the middle rank's bucket then is the only one whose
decisions it reads and sorts.

The backfill: the table is added up in batches of decision ids (one grouped statement
each), with `decision` locked against writes until the triggers are in place; the index
is built after it.

Revision ID: 0030_dash4_handling_buckets
Revises: 0029_dash3_after_deadline
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0030_dash4_handling_buckets"
down_revision: str | Sequence[str] | None = "0029_dash3_after_deadline"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 250_000
"""Decision ids per backfill statement."""

# modqueue.queue._core.handling as of this revision (a migration keeps its own copy).
_RANGES = ((60, 0, 1), (300, 48, 5), (1800, 98, 30), (3600, 152, 300))
_LAST_BUCKET = 164


def _bucket(postgres: bool, seconds: str) -> str:
    def whole(value: str) -> str:
        return f"CAST(trunc({value}) AS integer)" if postgres else f"CAST({value} AS INTEGER)"

    parts = [f"WHEN {seconds} < 1 THEN 0"]
    for below, base, width in _RANGES:
        scaled = seconds if width == 1 else f"{seconds} / {width}.0"
        offset = f"{base} + " if base else ""
        parts.append(f"WHEN {seconds} < {below} THEN {offset}{whole(scaled)}")
    return f"(CASE {' '.join(parts)} ELSE {_LAST_BUCKET} END)"


def _hour(postgres: bool, decided_at: str) -> str:
    if postgres:
        return f"(floor(extract(epoch FROM {decided_at}) / 3600))::bigint"
    return f"(CAST(strftime('%s', substr({decided_at}, 1, 19)) AS INTEGER) / 3600)"


_KEYS = "hour, guideline_id, kind, origin, bucket"
_PG_ADD = f"ON CONFLICT ({_KEYS}) DO UPDATE SET n = decision_handling.n + excluded.n"
_SQLITE_ADD = f"ON CONFLICT ({_KEYS}) DO UPDATE SET n = n + excluded.n"


def _pg_counted(rows: str, sign: str) -> str:
    """`rows`' standing decisions per counter row, `sign`ed."""
    return (
        f"SELECT {_hour(True, rows + '.decided_at')} AS hour, guideline_id, kind, origin, "
        f"{_bucket(True, rows + '.seconds_spent')} AS bucket, {sign}1 AS n "
        f"FROM {rows} WHERE status <> 'undone'"
    )


def _pg_bump(*parts: str) -> str:
    """Add the grouped rows of `parts` to the counters, in key order (two concurrent
    statements lock counter rows in the same order)."""
    union = " UNION ALL ".join(parts)
    return (
        f"INSERT INTO decision_handling ({_KEYS}, n) "
        f"SELECT {_KEYS}, sum(n) FROM ({union}) AS moved GROUP BY {_KEYS} "
        f"HAVING sum(n) <> 0 ORDER BY {_KEYS} {_PG_ADD}"
    )


def _pg_trigger(name: str, when: str, tables: str, body: str) -> list[str]:
    return [
        f"""
        CREATE FUNCTION modqueue_count_handling_{name}() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            {body};
            RETURN NULL;
        END $$
        """,
        f"""
        CREATE TRIGGER decision_handling_{name} AFTER {when} ON decision
        REFERENCING {tables} FOR EACH STATEMENT
        EXECUTE FUNCTION modqueue_count_handling_{name}()
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
        f"INSERT INTO decision_handling ({_KEYS}, n) VALUES "
        f"({_hour(False, row + '.decided_at')}, {row}.guideline_id, {row}.kind, "
        f"{row}.origin, {_bucket(False, row + '.seconds_spent')}, {sign}1) {_SQLITE_ADD};"
    )


_COUNTED = "status, decided_at, guideline_id, kind, origin, seconds_spent"
_SQLITE = [
    "CREATE TRIGGER decision_handling_inserted AFTER INSERT ON decision "
    f"WHEN NEW.status <> 'undone' BEGIN {_sqlite_bump('NEW', '')} END",
    "CREATE TRIGGER decision_handling_deleted AFTER DELETE ON decision "
    f"WHEN OLD.status <> 'undone' BEGIN {_sqlite_bump('OLD', '-')} END",
    f"CREATE TRIGGER decision_handling_left AFTER UPDATE OF {_COUNTED} ON decision "
    f"WHEN OLD.status <> 'undone' BEGIN {_sqlite_bump('OLD', '-')} END",
    f"CREATE TRIGGER decision_handling_entered AFTER UPDATE OF {_COUNTED} ON decision "
    f"WHEN NEW.status <> 'undone' BEGIN {_sqlite_bump('NEW', '')} END",
]


def _count(postgres: bool) -> sa.TextClause:
    add = _PG_ADD if postgres else _SQLITE_ADD
    return sa.text(
        f"INSERT INTO decision_handling ({_KEYS}, n) "
        f"SELECT {_hour(postgres, 'decided_at')}, guideline_id, kind, origin, "
        f"{_bucket(postgres, 'seconds_spent')}, count(*) FROM decision "
        "WHERE id >= :low AND id < :high AND status <> 'undone' "
        f"GROUP BY 1, guideline_id, kind, origin, 5 {add}"
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
    op.create_table(
        "decision_handling",
        sa.Column("hour", sa.BigInteger(), nullable=False),
        sa.Column("guideline_id", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("origin", sa.String(length=40), nullable=False),
        sa.Column("bucket", sa.Integer(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("hour", "guideline_id", "kind", "origin", "bucket"),
    )
    _batched(_count(postgres))
    for statement in _PG if postgres else _SQLITE:
        op.execute(statement)
    bucket = _bucket(postgres, "seconds_spent")
    if postgres:
        op.execute(
            f"CREATE INDEX ix_decision_handling ON decision (guideline_id, {bucket}, "
            "decided_at) INCLUDE (kind, origin, status, seconds_spent)"
        )
    else:
        op.execute(
            f"CREATE INDEX ix_decision_handling ON decision (guideline_id, {bucket}, "
            "decided_at, kind, origin, status, seconds_spent)"
        )


def downgrade() -> None:
    op.execute("DROP INDEX ix_decision_handling")
    if op.get_bind().dialect.name == "postgresql":
        for name in ("inserted", "deleted", "updated"):
            op.execute(f"DROP TRIGGER decision_handling_{name} ON decision")
            op.execute(f"DROP FUNCTION modqueue_count_handling_{name}()")
    else:
        for name in ("inserted", "deleted", "left", "entered"):
            op.execute(f"DROP TRIGGER decision_handling_{name}")
    op.drop_table("decision_handling")
