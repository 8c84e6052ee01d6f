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


def _clamp(value: float) -> float:
    return max(0.0, min(1.0, value))


def _weighted(signal: dict[str, Any]) -> float:
    """A signal's score times its `weight` (below 1 once a lead marked its source
    unreliable; 1 otherwise)."""
    return float(signal.get("score", 0.0)) * float(signal.get("weight", 1.0))


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

    The breakdown names every part's input, its share (0-1) and its points.
    """
    strongest = max((_weighted(s) for s in signals), default=0.0)
    strongest_name = next((str(s.get("name")) for s in signals if _weighted(s) == strongest), None)
    sla_seconds = max(sla_hours * 3600.0, 1.0)
    seconds_left = (deadline_at - now).total_seconds()
    shares = {
        "severity": _clamp((severity - 1) / 4),
        "signal": _clamp(strongest),
        "reports": _clamp(math.log10(1 + max(report_count, 0)) / 3),
        "reach": _clamp(math.log10(1 + max(views, 0)) / 7),
        "deadline": _clamp(1 - seconds_left / sla_seconds),
    }
    inputs: dict[str, Any] = {
        "severity": severity,
        "signal": {"name": strongest_name, "score": strongest},
        "reports": report_count,
        "reach": views,
        "deadline": {"seconds_left": round(seconds_left), "sla_hours": sla_hours},
    }
    parts = {
        name: {
            "input": inputs[name],
            "share": round(shares[name], 4),
            "points": round(shares[name] * WEIGHTS[name], 3),
        }
        for name in WEIGHTS
    }
    total = round(sum(p["points"] for p in parts.values()), 3)
    return total, {"total": total, "parts": parts, "scored_at": now.isoformat()}
