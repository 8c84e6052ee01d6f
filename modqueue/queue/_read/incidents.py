"""Flood incidents as the lead sees them: the list, and one incident with its items."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, select
from sqlmodel import Session, col

from modqueue._fields import fields_dict
from modqueue.queue._core.flood_models import FloodIncident, FloodMember, FloodRule
from modqueue.queue._core.models import Item
from modqueue.queue._items.floods import get_incident

__all__ = ["IncidentItem", "IncidentSummary", "IncidentView", "list_incidents", "show_incident"]

ITEM: Table = Item.metadata.tables["item"]
MEMBER: Table = FloodMember.metadata.tables["flood_member"]
_SHOWN = 50
_TEXT_PREVIEW = 120


@dataclass(frozen=True, slots=True)
class IncidentSummary:
    """One incident in the list."""

    id: int
    kind: str
    key: str
    status: str
    item_count: int
    opened_at: datetime
    updated_at: datetime
    closed_by: str | None
    label: str | None
    rule: str | None
    """`muted` / `unreliable` when the lead set a standing rule on this origin."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return fields_dict(
            self, opened_at=self.opened_at.isoformat(), updated_at=self.updated_at.isoformat()
        )


@dataclass(frozen=True, slots=True)
class IncidentItem:
    """An item of an incident: identity, state, queue, priority, start of its text."""

    item_id: int
    source: str
    external_id: str
    status: str
    queue: str
    priority: float
    text: str | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return fields_dict(self)


@dataclass(frozen=True, slots=True)
class IncidentView:
    """One incident: its summary, counts of its items by status and by queue, and its
    highest-priority items (at most 50)."""

    summary: IncidentSummary
    by_status: dict[str, int]
    by_queue: dict[str, int]
    items: list[IncidentItem]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            **self.summary.to_dict(),
            "by_status": self.by_status,
            "by_queue": self.by_queue,
            "items": [i.to_dict() for i in self.items],
        }


def _rules(session: Session) -> dict[tuple[str, str], str]:
    return {
        (r.kind, r.key): "muted" if r.kind == "reporter" else "unreliable"
        for r in session.scalars(select(FloodRule))
    }


def _summary(incident: FloodIncident, rules: dict[tuple[str, str], str]) -> IncidentSummary:
    assert incident.id is not None
    return IncidentSummary(
        id=incident.id,
        kind=incident.kind,
        key=incident.key,
        status=incident.status,
        item_count=incident.item_count,
        opened_at=incident.opened_at,
        updated_at=incident.updated_at,
        closed_by=incident.closed_by,
        label=incident.label,
        rule=rules.get((incident.kind, incident.key)),
    )


def list_incidents(
    session: Session, *, status: str | None = None, limit: int = 50
) -> list[IncidentSummary]:
    """Incidents (of `status`), open ones first, then the most recently changed."""
    query = select(FloodIncident)
    if status is not None:
        query = query.where(col(FloodIncident.status) == status)
    query = query.order_by(col(FloodIncident.updated_at).desc(), col(FloodIncident.id).desc())
    rules = _rules(session)
    found = [_summary(i, rules) for i in session.scalars(query)]
    found.sort(key=lambda s: s.status != "open")
    return found[:limit]


def show_incident(session: Session, *, incident_id: int) -> IncidentView:
    """Incident `incident_id` with its items (`NotFound` when there is none)."""
    incident = get_incident(session, incident_id)
    rows = list(
        session.connection().execute(
            select(
                ITEM.c.id,
                ITEM.c.source,
                ITEM.c.external_id,
                ITEM.c.status,
                ITEM.c.queue,
                ITEM.c.priority,
                ITEM.c.text,
            )
            .join(MEMBER, MEMBER.c.item_id == ITEM.c.id)
            .where(MEMBER.c.incident_id == incident_id)
        )
    )
    rows.sort(key=lambda r: (-float(r.priority), int(r.id)))
    items = [
        IncidentItem(
            item_id=int(r.id),
            source=r.source,
            external_id=r.external_id,
            status=r.status,
            queue=r.queue,
            priority=float(r.priority),
            text=r.text[:_TEXT_PREVIEW] if r.text else r.text,
        )
        for r in rows[:_SHOWN]
    ]
    return IncidentView(
        summary=_summary(incident, _rules(session)),
        by_status=dict(sorted(Counter(r.status for r in rows).items())),
        by_queue=dict(sorted(Counter(r.queue for r in rows).items())),
        items=items,
    )
