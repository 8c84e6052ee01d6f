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


_PART_MEMO = 4096
"""Inputs remembered per part (`_remember`); a full memo starts again empty."""
_SEVERITY: dict[Any, tuple[float, float]] = {}
_SIGNAL: dict[Any, tuple[float, float]] = {}
_REPORTS: dict[Any, tuple[float, float]] = {}
_REACH: dict[Any, tuple[float, float]] = {}
_DEADLINE: dict[Any, tuple[float, float]] = {}


def _remember(
    memo: dict[Any, tuple[float, float]], key: Any, share: float, weight: float
) -> tuple[float, float]:
    """`(share rounded to 4 places, points)` of a part whose bounded share is `share`,
    kept in `memo` under its input `key`. Both are functions of the input's value alone,
    and equal inputs (`1`, `1.0`, `True`) give equal shares, so a remembered pair is
    what computing it again would give."""
    if len(memo) >= _PART_MEMO:
        memo.clear()
    memo[key] = found = (round(share, 4), round(share * weight, 3))
    return found


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
    ingest (once per new item): each signal is weighed once, each part's share and
    points are remembered per input (`_remember`), the parts are built directly, and
    `scored_at` is printed once per `now`.
    """
    weighted = [float(s.get("score", 0.0)) * float(s.get("weight", 1.0)) for s in signals]
    strongest = max(weighted, default=0.0)
    strongest_name = next(
        (str(s.get("name")) for s, w in zip(signals, weighted, strict=True) if w == strongest),
        None,
    )
    sla_seconds = max(sla_hours * 3600.0, 1.0)
    seconds_left = (deadline_at - now).total_seconds()
    # Each part's `(share rounded to 4 places, points)` depends on its input alone: looked
    # up in its memo (an ingest batch repeats severities, signal scores, report counts and
    # deadlines), computed on a miss. Each share is bounded to 0-1 inline, as `_clamp`.
    found = _SEVERITY.get(severity)
    if found is None:
        v = (severity - 1) / 4
        v = v if v < 1.0 else 1.0
        found = _remember(_SEVERITY, severity, v if v > 0.0 else 0.0, _W_SEVERITY)
    severity_share, severity_points = found
    found = _SIGNAL.get(strongest)
    if found is None:
        v = strongest if strongest < 1.0 else 1.0
        found = _remember(_SIGNAL, strongest, v if v > 0.0 else 0.0, _W_SIGNAL)
    signal_share, signal_points = found
    found = _REPORTS.get(report_count)
    if found is None:
        v = _log10(1 + max(report_count, 0)) / 3
        v = v if v < 1.0 else 1.0
        found = _remember(_REPORTS, report_count, v if v > 0.0 else 0.0, _W_REPORTS)
    reports_share, reports_points = found
    found = _REACH.get(views)
    if found is None:
        v = _log10(1 + max(views, 0)) / 7
        v = v if v < 1.0 else 1.0
        found = _remember(_REACH, views, v if v > 0.0 else 0.0, _W_REACH)
    reach_share, reach_points = found
    deadline_key = (seconds_left, sla_seconds)
    found = _DEADLINE.get(deadline_key)
    if found is None:
        v = 1 - seconds_left / sla_seconds
        v = v if v < 1.0 else 1.0
        found = _remember(_DEADLINE, deadline_key, v if v > 0.0 else 0.0, _W_DEADLINE)
    deadline_share, deadline_points = found
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
                "share": severity_share,
                "points": severity_points,
            },
            "signal": {
                "input": {"name": strongest_name, "score": strongest},
                "share": signal_share,
                "points": signal_points,
            },
            "reports": {
                "input": report_count,
                "share": reports_share,
                "points": reports_points,
            },
            "reach": {"input": views, "share": reach_share, "points": reach_points},
            "deadline": {
                "input": {"seconds_left": round(seconds_left), "sla_hours": sla_hours},
                "share": deadline_share,
                "points": deadline_points,
            },
        },
        "scored_at": cached[1],
    }
