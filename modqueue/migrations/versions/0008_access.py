"""Reviewers, pseudonyms, and the audit hash chain over existing events.

Adds the `reviewer` and `reviewer_pseudonym` tables and an index for reading the audit
log by actor; computes `prev_hash`/`hash` for audit events written before the chain
existed; on SQLite, triggers that refuse UPDATE and DELETE on `audit_event` (PostgreSQL
uses privileges instead: `modqueue init --app-role NAME`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0008_access"
down_revision: str | Sequence[str] | None = "0001_core"

_AUDIT = sa.table(
    "audit_event",
    sa.column("id", sa.Integer()),
    sa.column("at", sa.DateTime()),  # naive UTC, as stored
    sa.column("actor", sa.String()),
    sa.column("event", sa.String()),
    sa.column("item_id", sa.Integer()),
    sa.column("before", sa.JSON()),
    sa.column("after", sa.JSON()),
    sa.column("detail", sa.JSON()),
    sa.column("prev_hash", sa.String()),
    sa.column("hash", sa.String()),
)

# Inlined (migrations do not import the application): the hash-chain rules as they were
# when this revision was written. Events before chains existed are all on chain 0.
GENESIS_HASH = "0" * 64


def _iso(at: datetime) -> str:
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def _json_value(value: Any) -> Any:
    return None if value is None else json.loads(json.dumps(value))


def canonical_event(
    *,
    id: int,
    at: datetime,
    actor: str,
    event: str,
    item_id: int | None,
    before: Any,
    after: Any,
    detail: Any,
    prev_hash: str,
) -> bytes:
    """The bytes an event's hash is computed over: sorted-key, compact, UTF-8 JSON."""
    doc = {
        "id": id,
        "at": _iso(at),
        "actor": actor,
        "event": event,
        "item_id": item_id,
        "before": _json_value(before),
        "after": _json_value(after),
        "detail": _json_value(detail),
        "prev_hash": prev_hash,
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _backfill_chain() -> None:
    conn = op.get_bind()
    prev = GENESIS_HASH
    rows = conn.execute(sa.select(_AUDIT).order_by(_AUDIT.c.id)).mappings().all()
    for row in rows:
        digest = hashlib.sha256(
            canonical_event(
                id=row["id"],
                at=row["at"],
                actor=row["actor"],
                event=row["event"],
                item_id=row["item_id"],
                before=row["before"],
                after=row["after"],
                detail=row["detail"],
                prev_hash=prev,
            )
        ).hexdigest()
        conn.execute(
            sa.update(_AUDIT).where(_AUDIT.c.id == row["id"]).values(prev_hash=prev, hash=digest)
        )
        prev = digest


def upgrade() -> None:
    op.create_table(
        "reviewer",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("policies", sa.JSON(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "reviewer_pseudonym",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("pseudonym", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
        sa.UniqueConstraint("pseudonym"),
    )
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.create_index("ix_audit_event_actor", ["actor", "id"], unique=False)
    _backfill_chain()
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_event "
            "BEGIN SELECT RAISE(ABORT, 'audit_event is append-only'); END"
        )
        op.execute(
            "CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event "
            "BEGIN SELECT RAISE(ABORT, 'audit_event is append-only'); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_delete")
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_update")
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_event_actor")
    op.drop_table("reviewer_pseudonym")
    op.drop_table("reviewer")
