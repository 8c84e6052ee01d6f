"""Feedback to the notifier: which notices are due an acknowledgement or an outcome.

A source with a `notify_url` hears back twice about each item (notice) it sent: `ack`
once the item is stored, and `outcome` once the item is finally decided and the
takedown actions of that decision reached a final state on the platform (done,
declined, failed, cancelled; `sent` with nothing left to follow up), or at once for a
decision without a takedown. Both are outbox rows (`notify_ack`, `notify_outcome`)
written by `pipeline.queue_notices`, on the destination `notify:<source>`, each with an
idempotency key derived from the notice and the stage, so each is queued once.

The payload names the item, the decision's label and action, the guideline (id and
version) and each takedown's final state: never a reviewer, a note or reporter data.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, not_, or_, select
from sqlmodel import Session, col

from modqueue.queue._core.models import Decision, Item, OutboundAction
from modqueue.queue._core.types import ActionStatus, ItemStatus
from modqueue.queue._decisions.settlement import standing_decision

__all__ = [
    "NOTIFY_ACK",
    "NOTIFY_ACTIONS",
    "NOTIFY_OUTCOME",
    "NOTIFY_PREFIX",
    "Notice",
    "due_notices",
    "notice_body",
    "notice_key",
]

NOTIFY_ACK = "notify_ack"
NOTIFY_OUTCOME = "notify_outcome"
NOTIFY_ACTIONS = frozenset({NOTIFY_ACK, NOTIFY_OUTCOME})
NOTIFY_PREFIX = "notify:"
"""An outbox row's `source` for feedback: `notify:<the item's source>`."""

Notice = tuple[Item, str, dict[str, Any]]  # the item, its stage, the payload to send


def notice_key(source: str, external_id: str, stage: str) -> str:
    """The idempotency key of one stage of one notice (stable: queued once, sent once)."""
    raw = f"notice\0{source}\0{external_id}\0{stage}".encode()
    return hashlib.sha256(raw).hexdigest()


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat().replace("+00:00", "Z")


def _without(stage: str) -> Any:
    return ~exists().where(
        col(OutboundAction.item_id) == col(Item.id), col(OutboundAction.action) == stage
    )


def _outcome(session: Session, item: Item) -> dict[str, Any] | None:
    assert item.id is not None
    decision: Decision | None = standing_decision(
        session, item.id, col(Decision.label) == item.final_label
    )
    if decision is None:
        return None
    takedowns = session.scalars(
        select(OutboundAction)
        .where(
            col(OutboundAction.decision_id) == decision.id,
            col(OutboundAction.action).not_in(NOTIFY_ACTIONS),
        )
        .order_by(col(OutboundAction.id))
    ).all()
    return {
        "decision": {
            "label": decision.label,
            "action": decision.action,
            "decided_at": _iso(decision.decided_at),
        },
        "guideline": {"id": decision.guideline_id, "version": decision.guideline_version},
        "actions": [{"action": a.action, "status": a.status} for a in takedowns],
    }


def due_notices(session: Session, *, sources: Collection[str], limit: int) -> list[Notice]:
    """Up to `limit` acknowledgements, then up to `limit` outcomes, due to the notifiers
    of `sources` (item sources with a `notify_url`), oldest item first."""
    if not sources:
        return []
    base = col(Item.source).in_(list(sources))
    notices: list[Notice] = []
    for item in session.scalars(
        select(Item).where(base, _without(NOTIFY_ACK)).order_by(col(Item.id)).limit(limit)
    ):
        payload = {"received_at": _iso(item.ingested_at)}
        notices.append((item, NOTIFY_ACK, payload))
    unsettled = exists().where(
        col(OutboundAction.item_id) == col(Item.id),
        col(OutboundAction.action).not_in(NOTIFY_ACTIONS),
        or_(
            col(OutboundAction.status) == ActionStatus.PENDING,
            and_(
                col(OutboundAction.status) == ActionStatus.SENT,
                col(OutboundAction.reference).is_not(None),
            ),
        ),
    )
    decided = session.scalars(
        select(Item)
        .where(
            base,
            col(Item.status) == ItemStatus.DECIDED,
            _without(NOTIFY_OUTCOME),
            not_(unsettled),
        )
        .order_by(col(Item.id))
        .limit(limit)
    )
    for item in decided:
        outcome = _outcome(session, item)
        if outcome is not None:
            notices.append((item, NOTIFY_OUTCOME, outcome))
    return notices


def notice_body(item: Item, stage: str, payload: dict[str, Any]) -> str:
    """The JSON document sent for `stage` of `item`'s notice (stored in the outbox row's
    `reason`, so every retry sends the same bytes)."""
    doc = {
        "stage": stage.removeprefix("notify_"),
        "source": item.source,
        "external_id": item.external_id,
        **payload,
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
