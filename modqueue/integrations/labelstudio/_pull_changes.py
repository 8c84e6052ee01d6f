"""How the pull changes an item for one annotation (the writes; `_pull` decides which).

* `verdict_of` reads an annotation's label, note, annotator, lead time and whether the
  annotator ticked "show media";
* `record_media_reveal` audits that ticking, once per annotation, like a reveal in the
  terminal UI;
* `claim_as` turns Label Studio's lease into the claim `decide` needs;
* `lease_again` gives a pending item back to Label Studio when an annotation arrives;
* `store_extra` keeps a further annotation (`kind = second_review`);
* `supersede` replaces the decision of an updated annotation, with its actions;
* `return_to_queue` gives a skipped item back to the moderators.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from modqueue.guidelines import REVERSAL_OF, Action, Guideline
from modqueue.integrations.labelstudio._labeling import (
    NOTE_FIELD,
    REVEAL_FIELD,
    VERDICT_FIELD,
)
from modqueue.integrations.labelstudio._models import LabelStudioTask, TaskState
from modqueue.integrations.labelstudio._pull_access import open_mode_actor
from modqueue.integrations.labelstudio._push import LS_REVIEWER
from modqueue.queue import AuditEvent, Claim, ItemPublic, ReviewQueue, record_reveal
from modqueue.queue._audit import record_event
from modqueue.queue._decisions import new_outbound_action
from modqueue.queue._models import Decision, Item
from modqueue.queue._reversal import plan_reversals
from modqueue.queue._routing import is_senior_queue, policy_of_queue, senior_queue
from modqueue.queue._types import ActionStatus, DecisionStatus, ItemStatus

__all__ = [
    "ORIGIN",
    "Verdict",
    "annotator_of",
    "claim_as",
    "guideline_of",
    "held",
    "lease_again",
    "media_revealed",
    "record_media_reveal",
    "return_to_queue",
    "store_extra",
    "supersede",
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


def guideline_of(queue: ReviewQueue, item: Item) -> Guideline:
    return queue.guidelines.get(item.policy or policy_of_queue(item.queue))


def claim_as(item: Item, verdict: Verdict, now: datetime) -> Claim:
    """The Label Studio lease on `item`, as a claim of the annotator who decided it."""
    assert item.id is not None and item.claim_token is not None
    if item.lease_expires_at is None or item.lease_expires_at <= now:
        item.lease_expires_at = now + timedelta(seconds=60)
    return Claim(
        item_id=item.id,
        reviewer=verdict.reviewer,
        token=item.claim_token,
        queue=item.queue,
        claimed_at=now - timedelta(seconds=verdict.seconds),
        lease_expires_at=item.lease_expires_at,
        priority=item.priority,
        breakdown=item.priority_breakdown,
        item=ItemPublic.model_validate(item, from_attributes=True),
    )


def lease_again(session: Session, item: Item, now: datetime) -> None:
    """Put a pending item (skipped earlier, or its lease ran out) back in Label Studio's hands."""
    item.status = ItemStatus.CLAIMED
    item.claimed_by = LS_REVIEWER
    item.claim_token = secrets.token_hex(16)
    item.claimed_at = now
    item.lease_expires_at = now + timedelta(seconds=60)
    item.updated_at = now
    session.flush()
    record_event(
        session,
        actor=LS_REVIEWER,
        event="claimed",
        at=now,
        item_id=item.id,
        before={"status": "pending"},
        after={"status": "claimed"},
        detail={"reason": "annotation arrived for a pending item"},
    )


def store_extra(
    session: Session, *, item: Item, guideline: Guideline, verdict: Verdict, now: datetime
) -> Decision:
    """Keep an annotation that does not decide the item (agreement needs it)."""
    label = guideline.label(verdict.label)
    decision = Decision(
        item_id=item.id or 0,
        reviewer=verdict.reviewer,
        label=label.id,
        action=label.action.value,
        note=verdict.note,
        guideline_id=guideline.id,
        guideline_version=guideline.version,
        seconds_spent=verdict.seconds,
        decided_at=now,
        origin=ORIGIN,
        kind="second_review",
        external_ref=verdict.annotation_id,
    )
    session.add(decision)
    session.flush()
    record_event(
        session,
        actor=verdict.reviewer,
        event="labelstudio_annotation",
        at=now,
        item_id=item.id,
        after={"label": label.id},
        detail={"decision_id": decision.id, "annotation_id": verdict.annotation_id},
    )
    return decision


def supersede(
    session: Session,
    *,
    queue: ReviewQueue,
    item: Item,
    old: Decision,
    verdict: Verdict,
    now: datetime,
) -> None:
    """An annotation changed: a new active decision replaces `old`."""
    guideline = guideline_of(queue, item)
    label = guideline.label(verdict.label)
    old.status = DecisionStatus.SUPERSEDED
    new = Decision(
        item_id=old.item_id,
        reviewer=verdict.reviewer,
        label=label.id,
        action=label.action.value,
        note=verdict.note,
        guideline_id=guideline.id,
        guideline_version=guideline.version,
        seconds_spent=verdict.seconds,
        decided_at=now,
        origin=ORIGIN,
        kind=old.kind,
        external_ref=verdict.annotation_id,
    )
    session.add(new)
    session.flush()
    deciding = old.kind != "second_review"
    cancelled: list[int | None] = []
    reversal_id = action_id = None
    before = {"status": item.status, "queue": item.queue, "label": item.final_label}
    if deciding:
        assert item.id is not None
        plan = plan_reversals(session, item_id=item.id, decision_id=old.id)
        for action in plan.cancel:
            action.status = ActionStatus.CANCELLED
            action.last_error = "cancelled: the annotation was changed in Label Studio"
            action.updated_at = now
            cancelled.append(action.id)
        for action in plan.reverse:
            outbound = new_outbound_action(
                item=item,
                decision=new,
                action=REVERSAL_OF[Action(action.action)],
                reason=f"reversal: annotation changed to {label.title}",
                now=now,
                reverses_id=action.id,
            )
            session.add(outbound)
            session.flush()
            reversal_id = outbound.id
        if label.action == Action.ESCALATE and not is_senior_queue(item.queue):
            item.queue = senior_queue(guideline.id)
            item.status = ItemStatus.PENDING
            item.escalated = True
            item.final_label = None
            item.decided_at = None
        elif label.action != Action.ESCALATE:
            if (
                item.status == ItemStatus.PENDING
                and is_senior_queue(item.queue)
                and (old.action == Action.ESCALATE.value)
            ):
                item.queue = policy_of_queue(item.queue)
                item.escalated = False
            if item.status != ItemStatus.CLAIMED:
                item.status = ItemStatus.DECIDED
                item.final_label = label.id
                item.decided_at = now
                if label.action != Action.NONE:
                    outbound = new_outbound_action(
                        item=item,
                        decision=new,
                        action=label.action.value,
                        reason=label.title,
                        now=now,
                    )
                    session.add(outbound)
                    session.flush()
                    action_id = outbound.id
        item.updated_at = now
    session.flush()
    record_event(
        session,
        actor=verdict.reviewer,
        event="decision_superseded",
        at=now,
        item_id=item.id,
        before=before | {"decision_id": old.id, "decision_label": old.label},
        after={"status": item.status, "queue": item.queue, "label": label.id},
        detail={
            "decision_id": new.id,
            "annotation_id": verdict.annotation_id,
            "cancelled_actions": cancelled,
            "reversal_action_id": reversal_id,
            "outbound_action_id": action_id,
        },
    )


def return_to_queue(
    session: Session,
    *,
    item: Item,
    annotation: dict[str, Any],
    now: datetime,
    actor: str,
    mapping: LabelStudioTask,
) -> bool:
    """A skipped annotation: the item goes back to the moderators."""
    if not held(item):
        return False
    item.status = ItemStatus.PENDING
    item.claimed_by = None
    item.claim_token = None
    item.claimed_at = None
    item.lease_expires_at = None
    item.updated_at = now
    mapping.state = TaskState.RETURNED
    mapping.updated_at = now
    session.flush()
    record_event(
        session,
        actor=actor,
        event="released",
        at=now,
        item_id=item.id,
        before={"status": "claimed"},
        after={"status": "pending"},
        detail={"labelstudio": "skipped", "annotation_id": str(annotation.get("id"))},
    )
    return True
