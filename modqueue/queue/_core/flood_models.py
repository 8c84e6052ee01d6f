"""Tables of floods: incidents for the lead, their members, the hits that count towards
a threshold, and the lead's standing rules (a muted reporter, an unreliable source)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from modqueue.queue._core.types import UTCDateTime, utcnow

__all__ = [
    "FloodHit",
    "FloodIncident",
    "FloodIncidentPublic",
    "FloodMember",
    "FloodRule",
    "IncidentStatus",
]


class IncidentStatus:
    """An incident is open while its items wait, then decided (a label over them all) or
    dismissed (its items went back to the reviewers)."""

    OPEN = "open"
    DECIDED = "decided"
    DISMISSED = "dismissed"


class FloodIncidentBase(SQLModel):
    """Many items from one origin, folded together for the lead."""

    kind: str = Field(max_length=20)
    key: str = Field(max_length=500)
    status: str = Field(default=IncidentStatus.OPEN, max_length=20)
    item_count: int = 0
    opened_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    closed_by: str | None = Field(default=None, max_length=200)
    label: str | None = Field(default=None, max_length=100)
    detail: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)


class FloodIncident(FloodIncidentBase, table=True):
    """Stored incident; at most one open per `(kind, key)` (checked by the folder)."""

    __tablename__ = "flood_incident"
    __table_args__ = (Index("ix_flood_incident_kind_key", "kind", "key", "status"),)
    id: int | None = Field(default=None, primary_key=True)


class FloodIncidentPublic(FloodIncidentBase):
    """An incident as listed to a lead."""

    id: int


class FloodMember(SQLModel, table=True):
    """An item folded into an incident."""

    __tablename__ = "flood_member"
    __table_args__ = (Index("ix_flood_member_item", "item_id"),)
    incident_id: int = Field(foreign_key="flood_incident.id", primary_key=True)
    item_id: int = Field(foreign_key="item.id", primary_key=True)
    added_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class FloodHit(SQLModel, table=True):
    """One item counted towards one origin's threshold (kept for one window)."""

    __tablename__ = "flood_hit"
    __table_args__ = (
        UniqueConstraint("kind", "key", "item_id", name="uq_flood_hit"),
        Index("ix_flood_hit_kind_key_at", "kind", "key", "at"),
        Index("ix_flood_hit_at", "at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=20)
    key: str = Field(max_length=500)
    item_id: int = Field(foreign_key="item.id")
    at: datetime = Field(sa_type=UTCDateTime)


class FloodRule(SQLModel, table=True):
    """A lead's standing rule: a reporter muted, or a signal source unreliable (with the
    weight its score now counts for in priority)."""

    __tablename__ = "flood_rule"
    __table_args__ = (UniqueConstraint("kind", "key", name="uq_flood_rule"),)
    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=20)
    key: str = Field(max_length=500)
    weight: float = 1.0
    set_by: str = Field(max_length=200)
    set_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    reason: str = ""
