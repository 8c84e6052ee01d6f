"""Tables of the quality features: gold items, appeals and the export's pseudonymisation key."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from modqueue.queue._core.types import UTCDateTime, utcnow

__all__ = [
    "Appeal",
    "AppealPublic",
    "AppealStatus",
    "ExportSecret",
    "GoldItem",
    "GoldItemPublic",
]


class AppealStatus:
    """An appeal's state: open until a senior decides it, then upheld or overturned."""

    OPEN = "open"
    UPHELD = "upheld"
    OVERTURNED = "overturned"


class GoldItemBase(SQLModel):
    """An item whose correct label a lead knows; reviewers' answers on it are scored."""

    item_id: int = Field(foreign_key="item.id", primary_key=True)
    label: str = Field(max_length=100)
    added_by: str = Field(max_length=200)
    added_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    note: str = ""


class GoldItem(GoldItemBase, table=True):
    """Stored gold answer (one per item)."""

    __tablename__ = "gold_item"


class GoldItemPublic(GoldItemBase):
    """A gold answer as listed to leads."""


class AppealBase(SQLModel):
    """A request to look again at a decided item, decided by a different senior."""

    item_id: int = Field(foreign_key="item.id")
    note: str
    opened_by: str = Field(max_length=200)
    opened_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    appealed_decision_id: int = Field(foreign_key="decision.id")
    appealed_reviewer: str = Field(max_length=200)
    appealed_label: str = Field(max_length=100)
    status: str = Field(default=AppealStatus.OPEN, max_length=20)
    outcome_decision_id: int | None = Field(default=None, foreign_key="decision.id")
    decided_by: str | None = Field(default=None, max_length=200)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Appeal(AppealBase, table=True):
    """Stored appeal; an item may be appealed again once the previous appeal is closed."""

    __tablename__ = "appeal"
    __table_args__ = (Index("ix_appeal_item_status", "item_id", "status"),)
    id: int | None = Field(default=None, primary_key=True)


class AppealPublic(AppealBase):
    """An appeal as returned by the API and CLI."""

    id: int


class ExportSecret(SQLModel, table=True):
    """A generated secret kept in the database (the export's HMAC key when the
    environment gives none). Read and written with core statements only, never
    loaded as an object, so its value cannot end up in a repr."""

    __tablename__ = "export_secret"
    name: str = Field(primary_key=True, max_length=100)
    value: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
