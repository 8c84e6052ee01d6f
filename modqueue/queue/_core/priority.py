"""Priority: how urgently an item needs a human, and the breakdown that explains it.

The score is a sum of five parts, each bounded, so that no single signal dominates:

| part     | weight | grows with                                       |
| -------- | ------ | ------------------------------------------------ |
| severity | 30     | the policy's severity (1-5)                       |
| signal   | 20     | the strongest detector score (0-1), times its weight |
| reports  | 10     | report count, logarithmically (1,000 reports = full) |
| reach    | 20     | views, logarithmically (10 million views = full)  |
| deadline | 20     | the share of the SLA already used; full once past |

A signal's `weight` (default 1) is lowered when a lead marks its source unreliable
(`[floods] unreliable_weight`): its score then counts for less.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

__all__ = ["WEIGHTS", "score_item"]

WEIGHTS = {"severity": 30.0, "signal": 20.0, "reports": 10.0, "reach": 20.0, "deadline": 20.0}


_W_SEVERITY = WEIGHTS["severity"]
_W_SIGNAL = WEIGHTS["signal"]
_W_REPORTS = WEIGHTS["reports"]
_W_REACH = WEIGHTS["reach"]
_W_DEADLINE = WEIGHTS["deadline"]
_log10 = math.log10

# `now.isoformat()` of the last `now` seen: an ingest batch scores every item at one
# `now`. Keyed by identity (equal datetimes in other zones print differently).
_scored_at: tuple[datetime | None, str] = (None, "")


def _clamp(value: float) -> float:
    """`value` bounded to 0-1, exactly `max(0.0, min(1.0, value))` (NaN gives 1.0)."""
    bounded = value if value < 1.0 else 1.0
    return bounded if bounded > 0.0 else 0.0


def _part(value: Any, share: float, weight: float) -> dict[str, Any]:
    return {"input": value, "share": round(share, 4), "points": round(share * weight, 3)}


def score_item(
    *,
    severity: int,
    signals: Sequence[dict[str, Any]],
    report_count: int,
    views: int,
    deadline_at: datetime,
    sla_hours: float,
    now: datetime,
) -> tuple[float, dict[str, Any]]:
    """Return `(priority, breakdown)` for an item at time `now`.

    The breakdown names every part's input, its share (0-1) and its points. Hot on
    ingest (once per new item): each signal is weighed once, the parts are built
    directly, and `scored_at` is printed once per `now`.
    """
    weighted = [float(s.get("score", 0.0)) * float(s.get("weight", 1.0)) for s in signals]
    strongest = max(weighted, default=0.0)
    strongest_name = next(
        (str(s.get("name")) for s, w in zip(signals, weighted, strict=True) if w == strongest),
        None,
    )
    sla_seconds = max(sla_hours * 3600.0, 1.0)
    seconds_left = (deadline_at - now).total_seconds()
    severity_part = _part(severity, _clamp((severity - 1) / 4), _W_SEVERITY)
    signal_part = _part({"name": strongest_name, "score": strongest}, _clamp(strongest), _W_SIGNAL)
    reports_part = _part(report_count, _clamp(_log10(1 + max(report_count, 0)) / 3), _W_REPORTS)
    reach_part = _part(views, _clamp(_log10(1 + max(views, 0)) / 7), _W_REACH)
    deadline_part = _part(
        {"seconds_left": round(seconds_left), "sla_hours": sla_hours},
        _clamp(1 - seconds_left / sla_seconds),
        _W_DEADLINE,
    )
    total = round(
        sum(
            (
                severity_part["points"],
                signal_part["points"],
                reports_part["points"],
                reach_part["points"],
                deadline_part["points"],
            )
        ),
        3,
    )
    global _scored_at
    cached = _scored_at
    if cached[0] is not now:
        cached = _scored_at = (now, now.isoformat())
    return total, {
        "total": total,
        "parts": {
            "severity": severity_part,
            "signal": signal_part,
            "reports": reports_part,
            "reach": reach_part,
            "deadline": deadline_part,
        },
        "scored_at": cached[1],
    }
