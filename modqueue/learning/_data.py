"""Training examples: items with a final label set by a person, one per item.

Only final human decisions count: the item's `final_label` backed by an active decision
with that label whose origin is not automated (`propagated`, bank matches, a model).
Escalations are never labels. Each example keeps the guideline version it was decided
under and its split, from the export's content-hash splitting (near-duplicates share a
split, so they never span train and test).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session, col

from modqueue.guidelines import Action
from modqueue.queue import (
    AUTOMATED_ORIGINS,
    CONTENT_COLUMNS,
    TRIAGE,
    Decision,
    DecisionStatus,
    Item,
    is_automated,
    mask_pii,
    split_for,
)

__all__ = ["AUTOMATED_ORIGINS", "Example", "iter_examples", "load_examples"]


_NOT_VIOLATING = frozenset({Action.NONE.value})


@dataclass(frozen=True, slots=True)
class Example:
    """One final human decision: the item's masked text, its label and whether that
    label is a violation (its action is a takedown), the guideline version and split."""

    item_id: int
    text: str
    label: str
    violating: bool
    guideline_version: str
    split: str
    decided_at: datetime


def is_human(origin: str) -> bool:
    """Whether a decision's origin is a person (not propagation, a bank or a model)."""
    return not is_automated(origin)


def iter_examples(
    session: Session, *, policy: str, since: datetime | None = None, batch: int = 2000
) -> Iterator[Example]:
    """Every final human decision of `policy` (decided after `since`), in item order."""
    query = (
        select(
            *CONTENT_COLUMNS,
            col(Item.final_label),
            col(Decision.action),
            col(Decision.origin),
            col(Decision.guideline_version),
            col(Decision.decided_at),
        )
        .join(Decision, col(Decision.item_id) == col(Item.id))
        .where(
            col(Item.final_label).is_not(None),
            col(Decision.label) == col(Item.final_label),
            col(Decision.status) == DecisionStatus.ACTIVE,
            col(Decision.action) != Action.ESCALATE.value,
        )
        .order_by(col(Item.id), col(Decision.id).desc())
    )
    if policy == TRIAGE:
        query = query.where(col(Item.policy).is_(None) | (col(Item.policy) == TRIAGE))
    else:
        query = query.where(col(Item.policy) == policy)
    if since is not None:
        query = query.where(col(Item.decided_at) > since)
    last: int | None = None
    # On the statement, not the connection: the option must not outlive this query (a
    # later UPDATE in the same transaction would otherwise go through a server cursor).
    for row in session.execute(query.execution_options(yield_per=batch)):
        item_id, source, external_id, text, url, media, label, action, origin = row[:9]
        if item_id == last or not is_human(origin):
            continue
        last = item_id
        masked = mask_pii(text) if text else ""
        yield Example(
            item_id=item_id,
            text=masked,
            label=label,
            violating=action not in _NOT_VIOLATING,
            guideline_version=row[9],
            split=split_for(
                text=masked,
                url=url,
                media=media,
                source=source,
                external_id=external_id,
                masked=True,
            ),
            decided_at=row[10],
        )


def load_examples(session: Session, *, policy: str, since: datetime | None = None) -> list[Example]:
    """`iter_examples` as a list (items without text are left out: the model reads text)."""
    return [e for e in iter_examples(session, policy=policy, since=since) if e.text.strip()]
