"""Audit checkpoints on both backends; on PostgreSQL `audit_event` partitioned by month.

`audit_checkpoint` holds verified chain heads (`modqueue audit verify --since`).

On PostgreSQL `audit_event` becomes a table range-partitioned on `at` (one partition per
calendar month, UTC, named `audit_event_YYYY_MM`, and `audit_event_default` for anything
outside them), so old months can be detached and archived whole and every month's indexes
stay small. The primary key becomes `(id, at)` (a partitioned table's unique keys must
hold the partition key); ids still come from the same sequence, so they stay unique and
keep their chain order. An existing table is converted in place: renamed aside, its rows
copied with their ids, hashes and chains unchanged, its privileges copied (the
application role keeps no UPDATE or DELETE, on the partitions too), then dropped.

`modqueue_audit_partitions(months_ahead)` creates the partitions of this month and the
next `months_ahead` ones when missing (as the schema's owner, `SECURITY DEFINER`, so the
application role, which may not create tables, can run it) (the migration runs it with 3, `modqueue serve` runs
it daily, `modqueue audit partitions` on demand). An insert never fails for a missing
month: rows for a month without a partition land in the default partition, and
creating that month's partition later moves them into it.

SQLite keeps one plain table: this migration only adds `audit_checkpoint` there.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020_scale_audit_partitions"
down_revision: str | Sequence[str] | None = "0019_hotpath_counters"

MONTHS_AHEAD = 3
_INDEXES = {
    "ix_audit_event_item": "item_id, id",
    "ix_audit_event_actor": "actor, id",
    "ix_audit_event_chain": "chain, id",
}

_FUNCTIONS = r"""
CREATE OR REPLACE FUNCTION modqueue_audit_copy_acl(target regclass, source regclass)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    -- Privileges of `target` become exactly those of `source` (the owner's aside).
    FOR r IN SELECT DISTINCT a.grantee FROM pg_class c, aclexplode(c.relacl) a
             WHERE c.oid = target AND a.grantee <> c.relowner LOOP
        EXECUTE format('REVOKE ALL ON %s FROM %s', target,
            CASE WHEN r.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(r.grantee)) END);
    END LOOP;
    FOR r IN SELECT a.grantee, a.privilege_type FROM pg_class c, aclexplode(c.relacl) a
             WHERE c.oid = source AND a.grantee <> c.relowner LOOP
        EXECUTE format('GRANT %s ON %s TO %s', r.privilege_type, target,
            CASE WHEN r.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(r.grantee)) END);
    END LOOP;
END $$;

CREATE OR REPLACE FUNCTION modqueue_audit_partition(month timestamp)
RETURNS boolean LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    lo timestamp := date_trunc('month', month);
    hi timestamp := date_trunc('month', month) + interval '1 month';
    name text := 'audit_event_' || to_char(date_trunc('month', month), 'YYYY_MM');
BEGIN
    -- The partition of `month`, created if missing; rows that already landed in the
    -- default partition for that month move into it. True when it was created.
    IF to_regclass(name) IS NOT NULL THEN
        RETURN false;
    END IF;
    IF to_regclass('audit_event_default') IS NOT NULL
       AND EXISTS (SELECT 1 FROM audit_event_default WHERE at >= lo AND at < hi) THEN
        EXECUTE format('CREATE TABLE %I (LIKE audit_event INCLUDING DEFAULTS)', name);
        EXECUTE format('INSERT INTO %I SELECT * FROM audit_event_default '
                       'WHERE at >= %L AND at < %L', name, lo, hi);
        EXECUTE format('DELETE FROM audit_event_default WHERE at >= %L AND at < %L', lo, hi);
        EXECUTE format('ALTER TABLE audit_event ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                       name, lo, hi);
    ELSE
        EXECUTE format('CREATE TABLE %I PARTITION OF audit_event FOR VALUES FROM (%L) TO (%L)',
                       name, lo, hi);
    END IF;
    PERFORM modqueue_audit_copy_acl(to_regclass(name), 'audit_event'::regclass);
    RETURN true;
END $$;

CREATE OR REPLACE FUNCTION modqueue_audit_partitions(months_ahead integer DEFAULT 3)
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    first timestamp := date_trunc('month', now() AT TIME ZONE 'UTC');
    made integer := 0;
BEGIN
    -- This month's partition and the next `months_ahead` ones: how many were created.
    FOR k IN 0..months_ahead LOOP
        IF modqueue_audit_partition(first + make_interval(months => k)) THEN
            made := made + 1;
        END IF;
    END LOOP;
    RETURN made;
END $$;
"""


def _is_partitioned(conn: sa.Connection) -> bool:
    kind = conn.execute(
        sa.text("SELECT relkind FROM pg_class WHERE oid = to_regclass('audit_event')")
    ).scalar()
    return kind == "p"


def _set_aside(old: str) -> str:
    """Rename `audit_event`, its key and indexes to `old`; returns its sequence's name."""
    sequence = (
        op.get_bind()
        .execute(sa.text("SELECT pg_get_serial_sequence('audit_event', 'id')"))
        .scalar_one()
    )
    op.execute(f"ALTER TABLE audit_event RENAME TO {old}")
    op.execute(f"ALTER TABLE {old} RENAME CONSTRAINT audit_event_pkey TO {old}_pkey")
    for name in _INDEXES:
        op.execute(f"ALTER INDEX IF EXISTS {name} RENAME TO {name.replace('audit_event', old)}")
    return str(sequence)


def _finish(old: str, sequence: str) -> None:
    """Indexes, privileges and the sequence move to the new `audit_event`; `old` goes."""
    for name, columns in _INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON audit_event ({columns})")
    op.execute(f"ALTER SEQUENCE {sequence} OWNED BY audit_event.id")
    op.execute(f"SELECT modqueue_audit_copy_acl('audit_event'::regclass, '{old}'::regclass)")
    op.execute(f"DROP TABLE {old}")
    op.execute("ANALYZE audit_event")


def _partition_postgres() -> None:
    conn = op.get_bind()
    op.execute(_FUNCTIONS)
    if _is_partitioned(conn):
        return
    old = "audit_event_unpartitioned"
    sequence = _set_aside(old)
    op.execute(
        f"CREATE TABLE audit_event (LIKE {old} INCLUDING DEFAULTS INCLUDING CONSTRAINTS, "
        "PRIMARY KEY (id, at)) PARTITION BY RANGE (at)"
    )
    op.execute("CREATE TABLE audit_event_default PARTITION OF audit_event DEFAULT")
    # A partition for every month the trail already covers, and the coming months.
    op.execute(
        "SELECT modqueue_audit_partition(m) FROM generate_series("
        f"date_trunc('month', (SELECT min(at) FROM {old})), "
        f"date_trunc('month', (SELECT max(at) FROM {old})), interval '1 month') AS m"
    )
    op.execute(f"SELECT modqueue_audit_partitions({MONTHS_AHEAD})")
    op.execute(f"INSERT INTO audit_event SELECT * FROM {old} ORDER BY id")
    _finish(old, sequence)
    op.execute(
        "SELECT modqueue_audit_copy_acl(inhrelid::regclass, 'audit_event'::regclass) "
        "FROM pg_inherits WHERE inhparent = 'audit_event'::regclass"
    )


def _unpartition_postgres() -> None:
    conn = op.get_bind()
    if _is_partitioned(conn):
        old = "audit_event_partitioned"
        sequence = _set_aside(old)
        op.execute(
            f"CREATE TABLE audit_event (LIKE {old} INCLUDING DEFAULTS INCLUDING CONSTRAINTS, "
            "PRIMARY KEY (id))"
        )
        op.execute(f"INSERT INTO audit_event SELECT * FROM {old} ORDER BY id")
        _finish(old, sequence)
    op.execute("DROP FUNCTION IF EXISTS modqueue_audit_partitions(integer)")
    op.execute("DROP FUNCTION IF EXISTS modqueue_audit_partition(timestamp)")
    op.execute("DROP FUNCTION IF EXISTS modqueue_audit_copy_acl(regclass, regclass)")


def upgrade() -> None:
    """Create `audit_checkpoint`; on PostgreSQL partition `audit_event` by month."""
    op.create_table(
        "audit_checkpoint",
        sa.Column("checkpoint", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("chain", sa.SmallInteger(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("checked_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("checkpoint", "chain"),
    )
    if op.get_bind().dialect.name == "postgresql":
        _partition_postgres()


def downgrade() -> None:
    """Back to one plain `audit_event` (rows, ids and hashes kept); drop the checkpoints."""
    if op.get_bind().dialect.name == "postgresql":
        _unpartition_postgres()
    op.drop_table("audit_checkpoint")
