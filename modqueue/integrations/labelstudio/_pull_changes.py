"""How the pull reads one annotation: `verdict_of` gives its label, note, annotator and
lead time; `held` says whether Label Studio holds the item.

The writes are the queue's decision pipeline (`modqueue.queue`): `decide_held`,
`record_annotation`, `supersede_decision`, `return_held` and `hold_for`; `_pull` says which.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modqueue.integrations.labelstudio._labeling import NOTE_FIELD, VERDICT_FIELD
from modqueue.integrations.labelstudio._pull_access import open_mode_actor
from modqueue.integrations.labelstudio._push import LS_REVIEWER
from modqueue.queue import (
    Item,
    ItemStatus,
)

__all__ = [
    "ORIGIN",
    "Verdict",
    "annotator_of",
    "held",
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
    )


def held(item: Item) -> bool:
    return item.status == ItemStatus.CLAIMED and item.claimed_by == LS_REVIEWER
