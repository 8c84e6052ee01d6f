"""Which queue an item belongs in, and the policy numbers behind its priority."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, TypedDict, Unpack

from modqueue.guidelines import GuidelineSet
from modqueue.queue._core.models import Item
from modqueue.queue._core.priority import ScoreInputs, score_item, score_item_json
from modqueue.queue._core.referrals import TRUSTED_PART, TrustedFlagger

__all__ = [
    "LOW_SUFFIX",
    "SECOND_REVIEW_SUFFIX",
    "SENIOR_SUFFIX",
    "TRIAGE",
    "RescoreInputs",
    "boost_part",
    "deadline_for",
    "is_low_queue",
    "is_second_review_queue",
    "is_senior_queue",
    "keep_boost",
    "low_queue",
    "policy_numbers",
    "policy_of_queue",
    "rescore",
    "rescore_item",
    "rescore_json",
    "second_review_queue",
    "senior_queue",
    "with_boost",
]

TRIAGE = "triage"
SENIOR_SUFFIX = ":senior"
SECOND_REVIEW_SUFFIX = ":second"
LOW_SUFFIX = ":low"
DEFAULT_SEVERITY = 2
DEFAULT_SLA_HOURS = 24.0


def senior_queue(policy: str) -> str:
    """The senior queue of `policy` (escalations, disagreements, appeals)."""
    return f"{policy}{SENIOR_SUFFIX}"


def is_senior_queue(queue: str) -> bool:
    """True for a senior queue."""
    return queue.endswith(SENIOR_SUFFIX)


def second_review_queue(policy: str) -> str:
    """The blind second-review queue of `policy`."""
    return f"{policy}{SECOND_REVIEW_SUFFIX}"


def is_second_review_queue(queue: str) -> bool:
    """True for a second-review queue."""
    return queue.endswith(SECOND_REVIEW_SUFFIX)


def low_queue(policy: str) -> str:
    """The low-priority lane of `policy` (items its model scored as very likely clean)."""
    return f"{policy}{LOW_SUFFIX}"


def is_low_queue(queue: str) -> bool:
    """True for a low-priority lane."""
    return queue.endswith(LOW_SUFFIX)


def policy_of_queue(queue: str) -> str:
    """The policy a queue belongs to (`triage` for the triage queue)."""
    return (
        queue.removesuffix(SENIOR_SUFFIX)
        .removesuffix(SECOND_REVIEW_SUFFIX)
        .removesuffix(LOW_SUFFIX)
    )


def policy_numbers(guidelines: GuidelineSet, policy: str | None) -> tuple[int, float]:
    """`(severity, sla_hours)` of a policy; triage's when `policy` is None."""
    key = policy or TRIAGE
    if key in guidelines:
        g = guidelines.get(key)
        return g.severity, g.sla_hours
    return DEFAULT_SEVERITY, DEFAULT_SLA_HOURS


def deadline_for(
    guidelines: GuidelineSet,
    policy: str | None,
    flagged_at: datetime | None,
    now: datetime,
    flagger: TrustedFlagger | None = None,
) -> datetime:
    """When a decision is due: flag time (or now) plus the policy's SLA, or a trusted
    flagger's own SLA when that is shorter."""
    _, sla = policy_numbers(guidelines, policy)
    if flagger is not None:
        sla = flagger.sla_for(sla)
    return (flagged_at or now) + timedelta(hours=sla)


def with_boost(
    scored: tuple[float, dict[str, Any]], part: dict[str, Any] | None
) -> tuple[float, dict[str, Any]]:
    """`scored` (priority, breakdown) with a trusted flagger's boost `part` added."""
    priority, breakdown = scored
    if not part:
        return scored
    total = round(priority + float(part["points"]), 3)
    parts = {**breakdown["parts"], TRUSTED_PART: part}
    return total, {**breakdown, "parts": parts, "total": total}


def boost_part(flagger: TrustedFlagger) -> dict[str, Any]:
    """The priority-breakdown part of a trusted flagger's boost."""
    return {
        "input": {"organisation": flagger.organisation, "boost": flagger.boost},
        "share": 1.0,
        "points": flagger.boost,
    }


def keep_boost(breakdown: dict[str, Any] | None) -> dict[str, Any] | None:
    """The trusted-flagger part of a stored breakdown (kept when an item is re-scored)."""
    part = ((breakdown or {}).get("parts") or {}).get(TRUSTED_PART)
    return part if isinstance(part, dict) else None


class RescoreInputs(TypedDict):
    """What `rescore` takes: the item's policy and scoring inputs at time `now` (the
    policy's severity and SLA complete them into `priority.ScoreInputs`)."""

    policy: str | None
    signals: list[dict[str, Any]]
    report_count: int
    views: int
    deadline_at: datetime
    now: datetime


def _score_inputs(guidelines: GuidelineSet, inputs: RescoreInputs) -> ScoreInputs:
    severity, sla = policy_numbers(guidelines, inputs["policy"])
    return {
        "severity": severity,
        "signals": inputs["signals"],
        "report_count": inputs["report_count"],
        "views": inputs["views"],
        "deadline_at": inputs["deadline_at"],
        "sla_hours": sla,
        "now": inputs["now"],
    }


def rescore(
    guidelines: GuidelineSet, **inputs: Unpack[RescoreInputs]
) -> tuple[float, dict[str, Any]]:
    """Priority and breakdown of an item under its policy at time `now`."""
    return score_item(**_score_inputs(guidelines, inputs))


def rescore_json(guidelines: GuidelineSet, **inputs: Unpack[RescoreInputs]) -> tuple[float, str]:
    """`rescore` with the breakdown as its JSON text, not built (`score_item_json`)."""
    return score_item_json(**_score_inputs(guidelines, inputs))


class ScoreChanges(TypedDict, total=False):
    """What `rescore_item` takes in place of the item's own policy and signals."""

    policy: str | None
    signals: list[dict[str, Any]]


def rescore_item(
    guidelines: GuidelineSet, item: Item, *, now: datetime, **changes: Unpack[ScoreChanges]
) -> tuple[float, dict[str, Any]]:
    """`rescore` of `item` at `now`, with `changes` (a policy, signals) in place of its
    own; a trusted flagger's boost stays."""
    scored = rescore(
        guidelines,
        policy=changes.get("policy", item.policy),
        signals=changes.get("signals", item.signals),
        report_count=item.report_count,
        views=item.views,
        deadline_at=item.deadline_at,
        now=now,
    )
    return with_boost(scored, keep_boost(item.priority_breakdown))
