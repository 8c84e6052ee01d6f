"""How the pull reads one annotation: `verdict_of` gives its label, note, annotator, lead
time and whether the annotator ticked "show media"; `held` says whether Label Studio holds
the item; `record_media_reveal` audits that ticking, once per annotation, like a reveal in
the terminal UI.

The writes are the queue's decision pipeline (`modqueue.queue`): `decide_held`,
`record_annotation`, `supersede_decision`, `return_held` and `hold_for`; `_pull` says which.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from modqueue.guidelines import Guideline
from modqueue.integrations.labelstudio._labeling import (
    NOTE_FIELD,
    REVEAL_FIELD,
    VERDICT_FIELD,
)
from modqueue.integrations.labelstudio._pull_access import open_mode_actor
from modqueue.integrations.labelstudio._push import LS_REVIEWER
from modqueue.queue import (
    AuditEvent,
    Claim,
    Item,
    ItemPublic,
    ItemStatus,
    ReviewQueue,
    policy_of_queue,
    record_reveal,
)

__all__ = [
    "ORIGIN",
    "Verdict",
    "annotator_of",
    "guideline_of",
    "held",
    "media_revealed",
    "record_media_reveal",
    "verdict_of",
]

ORIGIN = "labelstudio"


@dataclass(frozen=True, slots=True)
class Verdict:
    annotation_id: str
    label: str
    note: str
    reviewer: str
    seconds: float
    revealed: bool = False


def media_revealed(annotation: dict[str, Any]) -> bool:
    """Whether the annotator ticked "show media" (graphic guidelines) in `annotation`."""
    return any(
        result.get("from_name") == REVEAL_FIELD and (result.get("value") or {}).get("choices")
        for result in annotation.get("result") or []
    )


def record_media_reveal(
    session: Session, *, item: Item, annotation_id: str, reviewer: str, now: datetime
) -> bool:
    """Audit (`revealed`, through `record_reveal`) that `reviewer` showed `item`'s media in
    Label Studio for annotation `annotation_id`; once per annotation. Whether it recorded."""
    assert item.id is not None
    what = f"media (Label Studio annotation {annotation_id})"
    earlier = session.scalars(
        select(AuditEvent).where(
            col(AuditEvent.item_id) == item.id, col(AuditEvent.event) == "revealed"
        )
    )
    if any((event.detail or {}).get("what") == what for event in earlier):
        return False
    claim = Claim(
        item_id=item.id,
        reviewer=reviewer,
        token=item.claim_token or "",
        queue=item.queue,
        claimed_at=item.claimed_at or now,
        lease_expires_at=item.lease_expires_at or now,
        priority=item.priority,
        breakdown=item.priority_breakdown,
        item=ItemPublic.model_validate(item, from_attributes=True),
    )
    record_reveal(session, claim=claim, now=now, what=what)
    return True


def guideline_of(queue: ReviewQueue, item: Item) -> Guideline:
    """The guideline `item` is decided against."""
    return queue.guidelines.get(item.policy or policy_of_queue(item.queue))


def annotator_of(annotation: dict[str, Any], users: dict[int, str]) -> str:
    """The e-mail (or, lacking one, the name or id) of who made `annotation`."""
    user = annotation.get("completed_by")
    if isinstance(user, dict):
        return str(user.get("email") or user.get("id"))
    if user is None:
        return "unknown"
    try:
        return users.get(int(user), str(user))
    except (TypeError, ValueError):
        return str(user)


def verdict_of(annotation: dict[str, Any], users: dict[int, str]) -> Verdict | None:
    label = None
    notes: list[str] = []
    for result in annotation.get("result") or []:
        value = result.get("value") or {}
        if result.get("from_name") == VERDICT_FIELD and value.get("choices"):
            label = str(value["choices"][0])
        elif result.get("from_name") == NOTE_FIELD and value.get("text"):
            notes.extend(str(t) for t in value["text"])
    if label is None:
        return None
    return Verdict(
        annotation_id=str(annotation["id"]),
        label=label,
        note="\n".join(notes),
        reviewer=open_mode_actor(annotator_of(annotation, users)),
        seconds=round(max(float(annotation.get("lead_time") or 0.0), 0.0), 3),
        revealed=media_revealed(annotation),
    )


def held(item: Item) -> bool:
    return item.status == ItemStatus.CLAIMED and item.claimed_by == LS_REVIEWER
