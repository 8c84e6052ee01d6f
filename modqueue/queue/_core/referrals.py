"""Trusted flaggers: sources whose notices come from a named organisation (a police
referral unit, an NGO) and jump the queue with their own deadline.

`[sources.NAME] trusted_flagger = "..."` in `modqueue.toml` declares one; the ingest
records on each item how it was found (`notice_type`) and the organisation, so reports
can count referrals apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = ["TRUSTED_PART", "NoticeType", "TrustedFlagger", "notice_type_of"]

TRUSTED_PART = "trusted_flagger"
"""The part of an item's priority breakdown that holds its trusted-flagger boost."""


class NoticeType(StrEnum):
    """How an item came to the queue (the DSA's `source_type`)."""

    TRUSTED_FLAGGER = "trusted_flagger"
    """A notice from a source declared a trusted flagger (DSA Art. 22)."""
    NOTICE = "notice"
    """A notice from a person: a user report (DSA Art. 16)."""
    OWN_INITIATIVE = "own_initiative"
    """Found by the platform itself: classifier or hash-match signals only."""


@dataclass(frozen=True, slots=True)
class TrustedFlagger:
    """A source declared a trusted flagger.

    `organisation` is its name as it appears in reports; `boost` the priority points its
    items get; `sla_hours` its own deadline (None: half the policy's SLA). An item's
    deadline is the earlier of the policy's and the flagger's.
    """

    organisation: str
    boost: float = 25.0
    sla_hours: float | None = None

    def sla_for(self, policy_sla_hours: float) -> float:
        """The SLA in hours for an item of a policy whose own SLA is `policy_sla_hours`."""
        own = self.sla_hours if self.sla_hours is not None else policy_sla_hours / 2
        return min(own, policy_sla_hours)


def notice_type_of(
    *, flagger: TrustedFlagger | None, report_count: int, reporter: dict[str, Any] | None
) -> NoticeType:
    """How an item was found: a trusted flagger's source, a person's report, or neither."""
    if flagger is not None:
        return NoticeType.TRUSTED_FLAGGER
    if report_count > 0 or reporter:
        return NoticeType.NOTICE
    return NoticeType.OWN_INITIATIVE
