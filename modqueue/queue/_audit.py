"""The append-only audit trail: every state change goes through `record_events`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Table, insert
from sqlmodel import Session

from modqueue.queue._models import AuditEvent

__all__ = ["AuditRecord", "record_event", "record_events"]

AUDIT: Table = AuditEvent.metadata.tables["audit_event"]
_INSERT_AUDIT = insert(AUDIT)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One event to append: who did what to which item, with the state before and after."""

    actor: str
    event: str
    at: datetime
    item_id: int | None = None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    detail: dict[str, Any] | None = field(default=None)


def record_events(session: Session, records: Sequence[AuditRecord]) -> None:
    """Append `records` to the audit trail inside the caller's transaction."""
    if not records:
        return
    session.connection().execute(
        _INSERT_AUDIT,
        [
            {
                "at": r.at,
                "actor": r.actor,
                "event": r.event,
                "item_id": r.item_id,
                "before": r.before,
                "after": r.after,
                "detail": r.detail,
            }
            for r in records
        ],
    )


def record_event(
    session: Session,
    *,
    actor: str,
    event: str,
    at: datetime,
    item_id: int | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one event to the audit trail inside the caller's transaction."""
    record_events(
        session,
        [AuditRecord(actor, event, at, item_id, before, after, detail)],
    )
