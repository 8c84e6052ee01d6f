"""The audit trail's monthly partitions on PostgreSQL (see migration
`0020_scale_audit_partitions`): created ahead by `ensure_audit_partitions`, listed by
`audit_partitions`. On SQLite the trail is one table and both do nothing."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlmodel import Session

__all__ = ["AUDIT_MONTHS_AHEAD", "AuditPartition", "audit_partitions", "ensure_audit_partitions"]

AUDIT_MONTHS_AHEAD = 3
"""Months after the current one whose partitions are kept ready."""

_ENSURE = text("SELECT modqueue_audit_partitions(:ahead)")
_LIST = text(
    "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid), "
    "c.reltuples::bigint, pg_total_relation_size(c.oid) "
    "FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
    "WHERE i.inhparent = to_regclass('audit_event') ORDER BY c.relname"
)


@dataclass(frozen=True, slots=True)
class AuditPartition:
    """One partition of `audit_event`: name, bounds (as PostgreSQL prints them), the
    planner's row estimate and its size on disk with indexes."""

    name: str
    bounds: str
    rows_estimate: int
    bytes: int


def _partitioned(session: Session) -> bool:
    if session.get_bind().dialect.name != "postgresql":
        return False
    return bool(
        session.scalar(
            text("SELECT to_regprocedure('modqueue_audit_partitions(integer)') IS NOT NULL")
        )
    )


def ensure_audit_partitions(session: Session, *, months_ahead: int = AUDIT_MONTHS_AHEAD) -> int:
    """Create the partitions of this month and the next `months_ahead` months where
    missing (rows that already fell into the default partition move into theirs); the
    number created. 0 on SQLite."""
    if months_ahead < 0:
        raise ValueError(f"months_ahead must be 0 or more, not {months_ahead}")
    if not _partitioned(session):
        return 0
    return int(session.scalar(_ENSURE, {"ahead": months_ahead}) or 0)


def audit_partitions(session: Session) -> list[AuditPartition]:
    """The partitions of `audit_event`, by name (empty on SQLite)."""
    if not _partitioned(session):
        return []
    return [
        AuditPartition(str(name), str(bounds), max(int(rows), 0), int(size))
        for name, bounds, rows, size in session.execute(_LIST)
    ]
