"""Tables of exposure budgets: what each reviewer was shown, and leads' lifts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from modqueue.queue._core.types import UTCDateTime, utcnow

__all__ = ["ExposureEvent", "ExposureLift"]


class ExposureEvent(SQLModel, table=True):
    """One addition to a reviewer's exposure: an item shown, or its graphic text or media
    revealed, with the points it counted (severity x weight). A check-in offered to the
    reviewer is a row too (`kind = "checkin_shown"`, no points): that it was shown is all
    that is kept of it."""

    __tablename__ = "exposure_event"
    __table_args__ = (
        # Migration 0026: on PostgreSQL with the points, so that the exposure sum of
        # each claim under a hold is an index-only scan.
        Index("ix_exposure_event_reviewer_at", "reviewer", "at", postgresql_include=["points"]),
        Index("ix_exposure_event_at", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    reviewer: str = Field(max_length=200)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    item_id: int | None = Field(default=None, foreign_key="item.id")
    queue: str = Field(max_length=200)
    policy: str | None = Field(default=None, max_length=100)
    graphic: bool = False
    kind: str = Field(max_length=20)
    points: float


class ExposureLift(SQLModel, table=True):
    """A lead let a reviewer near their budget have graphic work again, until `until`."""

    __tablename__ = "exposure_lift"
    __table_args__ = (Index("ix_exposure_lift_reviewer_until", "reviewer", "until"),)

    id: int | None = Field(default=None, primary_key=True)
    reviewer: str = Field(max_length=200)
    lifted_by: str = Field(max_length=200)
    lifted_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    until: datetime = Field(sa_type=UTCDateTime)
    reason: str = ""
