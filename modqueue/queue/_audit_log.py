"""Reading the audit trail: history queries and hash-chain verification."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from modqueue.queue._audit import GENESIS_HASH, event_hash
from modqueue.queue._models import AuditEvent

__all__ = ["ChainReport", "audit_history", "event_dict", "verify_chain"]

VERIFY_BATCH = 5000


@dataclass(frozen=True, slots=True)
class ChainReport:
    """The result of `verify_chain`.

    `ok` is False at the first broken link: `broken_id` is the first event that does not
    verify, `problem` says how, `last_good_id` is the event before it (None at the start).
    `head_id`/`head_hash` are the last event's, to write down as an external anchor.
    """

    ok: bool
    checked: int
    head_id: int | None
    head_hash: str | None
    broken_id: int | None = None
    last_good_id: int | None = None
    problem: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "ok": self.ok,
            "checked": self.checked,
            "head_id": self.head_id,
            "head_hash": self.head_hash,
            "broken_id": self.broken_id,
            "last_good_id": self.last_good_id,
            "problem": self.problem,
        }


def verify_chain(
    session: Session, *, anchor_id: int | None = None, anchor_hash: str | None = None
) -> ChainReport:
    """Walk the audit trail in id order and check every link.

    Detects an edited row (its hash no longer matches its contents), a deleted, inserted
    or reordered row (its `prev_hash` no longer matches the hash of the row before it)
    and a missing hash. A truncated tail leaves a valid shorter chain; pass a previously
    recorded `anchor_id`/`anchor_hash` (see `ChainReport.head_hash`) to detect it.
    """
    prev_hash = GENESIS_HASH
    prev_id: int | None = None
    checked = 0
    anchor_seen = anchor_id is None
    after = 0
    while True:
        rows = list(
            session.scalars(
                select(AuditEvent)
                .where(col(AuditEvent.id) > after)
                .order_by(col(AuditEvent.id))
                .limit(VERIFY_BATCH)
            )
        )
        if not rows:
            break
        for row in rows:
            assert row.id is not None
            problem = None
            if row.hash is None or row.prev_hash is None:
                problem = "it has no hash (written outside the audit chain)"
            elif row.prev_hash != prev_hash:
                what = f"event {prev_id}'s hash" if prev_id is not None else "the chain's start"
                problem = (
                    f"its prev_hash does not match {what}: an event before it was deleted, "
                    "inserted or moved"
                )
            elif row.hash != event_hash(row, prev_hash):
                problem = "its contents do not match its hash: the event was edited"
            if problem is not None:
                return ChainReport(
                    ok=False,
                    checked=checked,
                    head_id=prev_id,
                    head_hash=prev_hash if prev_id is not None else None,
                    broken_id=row.id,
                    last_good_id=prev_id,
                    problem=problem,
                )
            if anchor_id is not None and row.id == anchor_id:
                if row.hash != anchor_hash:
                    return ChainReport(
                        ok=False,
                        checked=checked,
                        head_id=prev_id,
                        head_hash=prev_hash if prev_id is not None else None,
                        broken_id=row.id,
                        last_good_id=prev_id,
                        problem="its hash differs from the anchor: the chain was rewritten",
                    )
                anchor_seen = True
            checked += 1
            prev_hash = row.hash or GENESIS_HASH
            prev_id = row.id
        after = prev_id if prev_id is not None else after
    if not anchor_seen:
        return ChainReport(
            ok=False,
            checked=checked,
            head_id=prev_id,
            head_hash=prev_hash if prev_id is not None else None,
            broken_id=anchor_id,
            last_good_id=prev_id,
            problem="the anchored event is missing: the chain was truncated",
        )
    return ChainReport(
        ok=True,
        checked=checked,
        head_id=prev_id,
        head_hash=prev_hash if prev_id is not None else None,
    )


def event_dict(row: AuditEvent) -> dict[str, Any]:
    """JSON-ready form of one audit event."""
    return {
        "id": row.id,
        "at": row.at.isoformat(),
        "actor": row.actor,
        "event": row.event,
        "item_id": row.item_id,
        "before": row.before,
        "after": row.after,
        "detail": row.detail,
        "prev_hash": row.prev_hash,
        "hash": row.hash,
    }


def audit_history(
    session: Session,
    *,
    item_id: int | None = None,
    actor: str | None = None,
    event: str | None = None,
    limit: int = 200,
) -> list[AuditEvent]:
    """The latest `limit` events (oldest first), filtered by item, actor and event name."""
    query = select(AuditEvent)
    if item_id is not None:
        query = query.where(col(AuditEvent.item_id) == item_id)
    if actor is not None:
        query = query.where(col(AuditEvent.actor) == actor)
    if event is not None:
        query = query.where(col(AuditEvent.event) == event)
    rows = list(session.scalars(query.order_by(col(AuditEvent.id).desc()).limit(limit)))
    rows.reverse()
    return rows
