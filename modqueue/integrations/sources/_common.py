"""What the feed and folder sources share: reports and errors (validation is the
ingest service's, `modqueue.queue.check_items`/`check_lines`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modqueue._exceptions import IntegrationError
from modqueue._fields import fields_dict
from modqueue.queue import Rejection

__all__ = ["SourceError", "SourceReport"]


class SourceError(IntegrationError):
    """A source answered badly or not at all; `source` names it."""

    def __init__(self, source: str, message: str) -> None:
        self.source = source
        super().__init__(f"source {source}: {message}")


@dataclass(slots=True)
class SourceReport:
    """What one pull of a source did."""

    source: str
    new: int = 0
    merged: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    pages: int = 0
    files: int = 0
    cursor: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return fields_dict(self, rejected=len(self.rejected))
