"""Gold items: leads record the known answer of an item; reviewers' labels on it are scored.

A gold item looks like any other item in its queue (nothing in a claim tells it apart),
so reviewers meet gold unannounced. Every standing decision on a gold item, of any kind,
counts towards its reviewer's accuracy. Adding, removing and listing gold items is for
leads and above (`Permission.MANAGE_GOLD`) once reviewers are registered.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from modqueue._exceptions import InvalidState, NotFound
from modqueue.guidelines import Action, GuidelineSet
from modqueue.quality._guard import authorize_actor
from modqueue.queue import (
    Decision,
    DecisionStatus,
    GoldItem,
    GoldItemPublic,
    Item,
    Permission,
    policy_of_queue,
    record_event,
)

__all__ = ["add_gold", "gold_accuracy", "list_gold", "remove_gold"]


def _lead(session: Session, actor: str | None, now: datetime | None) -> str:
    """Gold items are for leads and above (`PermissionDenied` otherwise, audited)."""
    return authorize_actor(
        session,
        actor=actor,
        permission=Permission.MANAGE_GOLD,
        doing="managing or listing gold items",
        now=now,
    )


def add_gold(
    session: Session,
    *,
    item_id: int,
    label: str,
    actor: str | None,
    guidelines: GuidelineSet,
    now: datetime,
    note: str = "",
) -> GoldItemPublic:
    """Mark `item_id` as gold with the known `label` (one of its guideline's final labels).

    Replaces an earlier gold label of the same item. `actor` must be a lead or above
    (`PermissionDenied` otherwise, audited). Raises `NotFound` for an unknown item or
    `UnknownLabel` for a label its guideline does not define.
    """
    actor = _lead(session, actor, now)
    item = session.get(Item, item_id)
    if item is None:
        raise NotFound(f"item {item_id} does not exist")
    policy = item.policy or policy_of_queue(item.queue)
    chosen = guidelines.get(policy).label(label)
    if chosen.action == Action.ESCALATE:
        raise InvalidState(
            f"label {chosen.id!r} escalates; a gold answer must be a final label of {policy}"
        )
    row = session.get(GoldItem, item_id, with_for_update=True)
    before = {"label": row.label} if row else None
    if row is None:
        row = GoldItem(item_id=item_id, label=chosen.id, added_by=actor, added_at=now, note=note)
        session.add(row)
    else:
        row.label, row.added_by, row.added_at, row.note = chosen.id, actor, now, note
    session.flush()
    record_event(
        session,
        actor=actor,
        event="gold_set",
        at=now,
        item_id=item_id,
        before=before,
        after={"label": chosen.id},
    )
    return GoldItemPublic.model_validate(row, from_attributes=True)


def remove_gold(session: Session, *, item_id: int, actor: str | None, now: datetime) -> None:
    """Unmark a gold item (leads and above); `NotFound` if it was not gold."""
    actor = _lead(session, actor, now)
    row = session.get(GoldItem, item_id, with_for_update=True)
    if row is None:
        raise NotFound(f"item {item_id} is not a gold item")
    label = row.label
    session.delete(row)
    session.flush()
    record_event(
        session, actor=actor, event="gold_removed", at=now, item_id=item_id, before={"label": label}
    )


def list_gold(
    session: Session, *, actor: str | None = None, now: datetime | None = None
) -> list[GoldItemPublic]:
    """Every gold item, by item id (leads and above: reviewers must not learn which
    items are gold)."""
    _lead(session, actor, now)
    rows = session.scalars(select(GoldItem).order_by(col(GoldItem.item_id)))
    return [GoldItemPublic.model_validate(r, from_attributes=True) for r in rows]


def gold_accuracy(session: Session) -> dict[str, dict[str, Any]]:
    """Per reviewer: gold items labelled, how many matched the gold answer, accuracy.

    Escalations are not answers and are left out; undone decisions too.
    """
    rows = session.execute(
        select(col(Decision.reviewer), col(Decision.label), col(GoldItem.label))
        .join(GoldItem, col(GoldItem.item_id) == col(Decision.item_id))
        .where(
            col(Decision.status) != DecisionStatus.UNDONE,
            col(Decision.action) != Action.ESCALATE.value,
        )
    )
    seen: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for reviewer, label, gold in rows:
        seen[reviewer][0] += 1
        seen[reviewer][1] += int(label == gold)
    return {
        reviewer: {"answered": n, "correct": ok, "accuracy": round(ok / n, 6)}
        for reviewer, (n, ok) in sorted(seen.items())
    }
