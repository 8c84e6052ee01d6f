"""Column types and enums shared by the queue's tables."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.types import DateTime, TypeDecorator

__all__ = ["ActionStatus", "DecisionStatus", "ItemStatus", "UTCDateTime", "utcnow"]


def utcnow() -> datetime:
    """The current time, timezone-aware UTC, with microseconds."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, returns aware UTC, on SQLite and PostgreSQL alike."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: modqueue stores aware UTC datetimes")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC)


class ItemStatus(StrEnum):
    """Where an item is in its life."""

    PENDING = "pending"
    CLAIMED = "claimed"
    DECIDED = "decided"
    FOLDED = "folded"
    """Held out of the reviewers' queue in an open flood incident (`modqueue.queue`
    floods): the lead decides or dismisses the incident."""


class DecisionStatus(StrEnum):
    """Whether a decision still stands."""

    ACTIVE = "active"
    UNDONE = "undone"
    SUPERSEDED = "superseded"


class ActionStatus(StrEnum):
    """An outbound action's delivery state and the platform's outcome."""

    PENDING = "pending"
    SENT = "sent"
    DONE = "done"
    DECLINED = "declined"
    FAILED = "failed"
    CANCELLED = "cancelled"
