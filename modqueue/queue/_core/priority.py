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
    # Each share bounded to 0-1 inline, exactly as `_clamp`.
    v = (severity - 1) / 4
    v = v if v < 1.0 else 1.0
    severity_share = v if v > 0.0 else 0.0
    v = strongest if strongest < 1.0 else 1.0
    signal_share = v if v > 0.0 else 0.0
    v = _log10(1 + max(report_count, 0)) / 3
    v = v if v < 1.0 else 1.0
    reports_share = v if v > 0.0 else 0.0
    v = _log10(1 + max(views, 0)) / 7
    v = v if v < 1.0 else 1.0
    reach_share = v if v > 0.0 else 0.0
    v = 1 - seconds_left / sla_seconds
    v = v if v < 1.0 else 1.0
    deadline_share = v if v > 0.0 else 0.0
    severity_points = round(severity_share * _W_SEVERITY, 3)
    signal_points = round(signal_share * _W_SIGNAL, 3)
    reports_points = round(reports_share * _W_REPORTS, 3)
    reach_points = round(reach_share * _W_REACH, 3)
    deadline_points = round(deadline_share * _W_DEADLINE, 3)
    total = round(
        sum((severity_points, signal_points, reports_points, reach_points, deadline_points)), 3
    )
    global _scored_at
    cached = _scored_at
    if cached[0] is not now:
        cached = _scored_at = (now, now.isoformat())
    return total, {
        "total": total,
        "parts": {
            "severity": {
                "input": severity,
                "share": round(severity_share, 4),
                "points": severity_points,
            },
            "signal": {
                "input": {"name": strongest_name, "score": strongest},
                "share": round(signal_share, 4),
                "points": signal_points,
            },
            "reports": {
                "input": report_count,
                "share": round(reports_share, 4),
                "points": reports_points,
            },
            "reach": {"input": views, "share": round(reach_share, 4), "points": reach_points},
            "deadline": {
                "input": {"seconds_left": round(seconds_left), "sla_hours": sla_hours},
                "share": round(deadline_share, 4),
                "points": deadline_points,
            },
        },
        "scored_at": cached[1],
    }
