"""What a reviewer's desk needs besides claiming and deciding: the queues they may work
and a record of what they chose to look at."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlmodel import Session

from modqueue.queue._access.rules import queue_filter
from modqueue.queue._claims.leases import Claim, record_claim_event
from modqueue.queue._core.routing import is_senior_queue
from modqueue.queue._read.stats import queue_stats

__all__ = [
    "MEDIA_REVEALED",
    "MediaKind",
    "QueueSummary",
    "RevealedMedia",
    "record_media_reveal",
    "record_reveal",
    "reviewer_queues",
]

MEDIA_REVEALED = "media_revealed"
"""The audit event of one media file shown unprotected on the review screen."""

MediaKind = Literal["image", "video"]


@dataclass(frozen=True, slots=True)
class RevealedMedia:
    """One media file a reveal showed unprotected: its kind, its place in the item's
    `media`, the policy it is under and the protection it had (`record_media_reveal`)."""

    media_kind: MediaKind
    media_index: int
    policy: str
    protection: str


@dataclass(frozen=True, slots=True)
class QueueSummary:
    """One queue as the queue picker shows it.

    Two clocks: `oldest_flagged_seconds` is the age of the oldest pending item's flag
    (deadlines run from the flag: `past_deadline` counts items past flag time plus SLA);
    `oldest_pending_seconds` is the longest a pending item has waited since ingest.
    """

    name: str
    depth: int
    claimed: int
    oldest_pending_seconds: int | None
    past_deadline: int
    senior: bool
    oldest_flagged_seconds: int | None = None


def reviewer_queues(
    session: Session, *, now: datetime, include_senior: bool = False, reviewer: str | None = None
) -> list[QueueSummary]:
    """The queues a reviewer may work, deepest deadline trouble first.

    Senior queues are listed only with `include_senior=True` (leads and senior reviewers).
    With `reviewer`, only the queues they may claim in (`queue_filter`: granted policies,
    senior queues for seniors and above; all in open mode). Queues with nothing pending or
    claimed are left out.
    """
    may_work = queue_filter(session, reviewer=reviewer) if reviewer is not None else None
    stats = queue_stats(session, now=now)
    out = []
    for name, q in stats["by_queue"].items():
        senior = is_senior_queue(name)
        if senior and not include_senior:
            continue
        if may_work is not None and not may_work(name):
            continue
        if not q["pending"] and not q["claimed"]:
            continue
        out.append(
            QueueSummary(
                name=name,
                depth=int(q["pending"]),
                claimed=int(q["claimed"]),
                oldest_pending_seconds=q["oldest_pending_seconds"],
                past_deadline=int(q["past_deadline"]),
                senior=senior,
                oldest_flagged_seconds=q["oldest_flagged_seconds"],
            )
        )
    out.sort(key=lambda s: (-s.past_deadline, -s.depth, s.name))
    return out


def record_reveal(session: Session, *, claim: Claim, now: datetime, what: str) -> None:
    """Audit that `claim.reviewer` revealed hidden content (`what`: e.g. "graphic text,
    media") of the claimed item: exposure is part of the record."""
    record_claim_event(session, claim, "revealed", at=now, detail={"what": what})


def record_media_reveal(
    session: Session,
    *,
    claim: Claim,
    now: datetime,
    policy: str,
    media_kind: MediaKind,
    protection: str,
    media_index: int = 0,
) -> None:
    """Audit that `claim.reviewer` revealed one media file of the claimed item: event
    `media_revealed`, detail `item_id`, `policy` (the guideline's id), `media_kind`
    (`"image"`, or `"video"` for a video's thumbnail), `protection` (the view it was
    under: `hidden`, `blurred`, `greyscale` or `clear`) and `media_index` (its place in
    the item's `media`). Exposure is counted from these events, one per file revealed."""
    if media_kind not in ("image", "video"):
        raise ValueError(f"media_kind must be 'image' or 'video', not {media_kind!r}")
    detail = {
        "item_id": claim.item_id,
        "policy": policy,
        "media_kind": media_kind,
        "protection": protection,
        "media_index": media_index,
    }
    record_claim_event(session, claim, MEDIA_REVEALED, at=now, detail=detail)
