"""What the feed and folder sources share: validation, reports and errors."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from modqueue._exceptions import IntegrationError
from modqueue.guidelines import GuidelineSet
from modqueue.queue import ItemIn, Rejection, validation_reason

__all__ = ["SourceError", "SourceReport", "validate_items"]


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
        return {
            "source": self.source,
            "new": self.new,
            "merged": self.merged,
            "rejected": len(self.rejected),
            "pages": self.pages,
            "files": self.files,
            "cursor": self.cursor,
        }


def validate_items(
    raws: Sequence[Any],
    *,
    source: str,
    guidelines: GuidelineSet,
    positions: Sequence[int] | None = None,
) -> tuple[list[ItemIn], list[Rejection]]:
    """Validate decoded items as `ReviewQueue.enqueue` does; an item without `source`
    gets the source's name. Returns `(valid, rejections)`."""
    valid: list[ItemIn] = []
    rejected: list[Rejection] = []
    for index, raw in enumerate(raws):
        position = positions[index] if positions is not None else index
        if isinstance(raw, dict) and "source" not in raw:
            raw = {**raw, "source": source}
        item, reason = validation_reason(raw)
        if item is not None and item.policy and item.policy not in guidelines:
            reason = f"policy: unknown policy {item.policy!r} (known: {', '.join(guidelines.ids)})"
            item = None
        if item is None:
            ext = raw.get("external_id") if isinstance(raw, dict) else None
            rejected.append(
                Rejection(position, reason or "invalid", ext if isinstance(ext, str) else None)
            )
            continue
        valid.append(item)
    return valid, rejected
