"""Deciding a flood incident: one label over every folded item, set-based, through the
decision pipeline's set-based core (`bulk.decide_items`).

Each item still gets its own decision, its own outbound action with its own idempotency
key and its own audit event (detail `incident_id`). A share of the items, drawn per item
at its policy's second-review share (`[quality]`, 10% by default), goes to a blind
second review as for any decision. Items the set decision leaves alone (claimed, under
appeal) go back to the reviewers (`pending`). The incident is then `decided`, audited as
`incident_decided` with the counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session

from modqueue._exceptions import InvalidState
from modqueue.guidelines import GuidelineSet
from modqueue.queue._core.flood_models import IncidentStatus
from modqueue.queue._core.quality_config import QualityConfig
from modqueue.queue._core.routing import policy_of_queue
from modqueue.queue._core.types import ItemStatus
from modqueue.queue._decisions.bulk import Skipped, decide_items, lock_items
from modqueue.queue._decisions.settlement import sampled_for_second_review
from modqueue.queue._items.floods import close_incident, get_incident, incident_items, unfold

__all__ = ["IncidentOutcome", "decide_incident"]

ORIGIN = "incident"


@dataclass(slots=True)
class IncidentOutcome:
    """What deciding an incident did: the items decided, those sent to a second review,
    those skipped (and returned to the reviewers)."""

    incident_id: int
    label: str
    decided: list[int] = field(default_factory=list)
    second_review: list[int] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    returned: list[int] = field(default_factory=list)

    @property
    def summary(self) -> str:
        """One line: `incident 4: 'remove' applied to 37 items; 3 to second review; 2
        skipped`."""
        line = f"incident {self.incident_id}: {self.label!r} applied to {len(self.decided)} items"
        if self.second_review:
            line += f"; {len(self.second_review)} to second review"
        if self.skipped:
            line += f"; {len(self.skipped)} skipped"
        return line


def decide_incident(
    session: Session,
    *,
    incident_id: int,
    actor: str,
    label: str,
    guidelines: GuidelineSet,
    now: datetime,
    note: str = "",
    quality: QualityConfig | None = None,
) -> IncidentOutcome:
    """Decide every folded item of open incident `incident_id` with `label`, in the
    caller's transaction (which authorizes). Raises `NotFound`, `InvalidState` (the
    incident is not open, or the label escalates) and `UnknownLabel` (a folded item's
    guideline lacks `label`)."""
    incident = get_incident(session, incident_id, lock=True)
    if incident.status != IncidentStatus.OPEN:
        raise InvalidState(f"incident {incident_id} is {incident.status}, not open")
    folded = incident_items(session, incident_id=incident_id, status=ItemStatus.FOLDED.value)
    rows = lock_items(session, folded)
    quality = quality or QualityConfig()
    sample = [
        i
        for i, row in rows.items()
        if sampled_for_second_review(
            row["source"],
            row["external_id"],
            quality.share_for(row["policy"] or policy_of_queue(row["queue"])),
        )
    ]
    bulk = decide_items(
        session,
        item_ids=folded,
        reviewer=actor,
        label=label,
        guidelines=guidelines,
        now=now,
        origin=ORIGIN,
        note=note,
        second_review=sample,
        event_detail={"incident_id": incident_id},
        locked=rows,
    )
    outcome = IncidentOutcome(
        incident_id,
        label,
        decided=sorted(bulk.decided),
        second_review=sorted(bulk.second_review),
        skipped=bulk.skipped,
    )
    outcome.returned = unfold(session, item_ids=[s.item_id for s in bulk.skipped], now=now)
    close_incident(
        session,
        incident=incident,
        status=IncidentStatus.DECIDED,
        actor=actor,
        now=now,
        label=label,
        detail={
            "decided": len(outcome.decided),
            "second_review": len(outcome.second_review),
            "skipped": len(outcome.skipped),
            "note": note,
        },
    )
    return outcome
