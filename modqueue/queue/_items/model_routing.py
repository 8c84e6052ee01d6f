"""Routing by a model's score: a suggested label, or the policy's low-priority lane.

The model never decides: a high score only records its suggested label on the item
(shown to the reviewer), a very low score moves the pending item from its policy's
queue to the low-priority lane `<policy>:low`, which `claim_next` serves only to
reviewers who ask for it (or for every queue). Each move is an audit event.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from sqlmodel import Session

from modqueue.queue._audit.chain import record_event
from modqueue.queue._core.models import Item
from modqueue.queue._core.routing import low_queue
from modqueue.queue._core.types import ItemStatus

__all__ = ["ModelBand", "route_by_model"]

ModelBand = Literal["suggest", "low"]


def route_by_model(
    session: Session,
    *,
    item_id: int,
    band: ModelBand,
    label: str,
    signal: str,
    score: float,
    now: datetime,
) -> bool:
    """Apply a model's band to a pending item still in its policy's own queue: record
    the suggestion (`suggest`), or also move it to the low-priority lane (`low`).
    Returns whether the item changed (claimed, decided, escalated or already routed
    items are left alone)."""
    item = session.get(Item, item_id, with_for_update=True)
    if item is None or item.status != ItemStatus.PENDING or item.policy is None:
        return False
    if item.queue != item.policy or item.suggestion is not None:
        return False
    suggestion: dict[str, Any] = {
        "label": label,
        "signal": signal,
        "score": round(score, 4),
        "band": band,
    }
    before: dict[str, Any] = {"queue": item.queue, "suggestion": None}
    item.suggestion = suggestion
    if band == "low":
        item.queue = low_queue(item.policy)
    item.updated_at = now
    record_event(
        session,
        actor=signal,
        event="model_routed",
        at=now,
        item_id=item_id,
        before=before,
        after={"queue": item.queue, "suggestion": suggestion},
    )
    return True
