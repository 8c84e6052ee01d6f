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

import json
import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple, TypedDict, Unpack

__all__ = [
    "WEIGHTS",
    "ScoreInputs",
    "number_json",
    "score_item",
    "score_item_json",
    "string_json",
]

WEIGHTS = {"severity": 30.0, "signal": 20.0, "reports": 10.0, "reach": 20.0, "deadline": 20.0}


_W_SEVERITY = WEIGHTS["severity"]
_W_SIGNAL = WEIGHTS["signal"]
_W_REPORTS = WEIGHTS["reports"]
_W_REACH = WEIGHTS["reach"]
_W_DEADLINE = WEIGHTS["deadline"]
_log10 = math.log10

# `now.isoformat()` of the last `now` seen: an ingest batch scores every item at one
# `now`. Keyed by identity (equal datetimes in other zones print differently).
_scored_at: tuple[datetime | None, str, str] = (None, "", "")
"""`(now, now.isoformat(), that text as JSON)` of the last `now` scored."""


_PART_MEMO = 4096
"""Inputs remembered per part (`_remember`); a full memo starts again empty."""
Part = tuple[float, float, str]
"""A part's share (0-1, rounded to 4 places), its points, and both as the JSON text
`"share": S, "points": P`."""
_SEVERITY: dict[Any, Part] = {}
_SIGNAL: dict[Any, Part] = {}
_REPORTS: dict[Any, Part] = {}
_REACH: dict[Any, Part] = {}
_DEADLINE: dict[Any, Part] = {}
_NAMES: dict[str, str] = {}
"""Signal names printed as JSON strings (bounded like the part memos)."""

_float_text = float.__repr__
_int_text = int.__repr__


def number_json(value: Any) -> str:
    """`value` as `json.dumps` prints it (floats and ints directly, anything else, e.g.
    `True`, NaN or infinity, through `json.dumps`)."""
    kind = type(value)
    if kind is float and value - value == 0.0:  # finite
        return _float_text(value)
    if kind is int:
        return _int_text(value)
    return json.dumps(value)


def _remember(memo: dict[Any, Part], key: Any, share: float, weight: float) -> Part:
    """`(share rounded to 4 places, points, their JSON)` of a part whose bounded share is
    `share`, kept in `memo` under its input `key`. All are functions of the input's value
    alone, and equal inputs (`1`, `1.0`, `True`) give equal shares, so a remembered part
    is what computing it again would give (the input itself is printed per item)."""
    if len(memo) >= _PART_MEMO:
        memo.clear()
    rounded, points = round(share, 4), round(share * weight, 3)
    memo[key] = found = (
        rounded,
        points,
        f'"share": {number_json(rounded)}, "points": {number_json(points)}',
    )
    return found


def string_json(name: str | None) -> str:
    """`json.dumps(name)`, remembered for the names seen last (signal names repeat)."""
    found = _NAMES.get(name) if name is not None else None
    if found is None:
        found = json.dumps(name)
        if name is not None:
            if len(_NAMES) >= _PART_MEMO:
                _NAMES.clear()
            _NAMES[name] = found
    return found


class _Scored(NamedTuple):
    """What `_score` found: the total and each part's input and remembered `Part`."""

    total: float
    strongest_name: str | None
    strongest: float
    seconds_left: int
    severity: Part
    signal: Part
    reports: Part
    reach: Part
    deadline: Part
    scored_at: tuple[datetime | None, str, str]


def _score(
    severity: int,
    signals: Sequence[dict[str, Any]],
    report_count: int,
    views: int,
    deadline_at: datetime,
    sla_hours: float,
    now: datetime,
) -> _Scored:
    """The parts of `score_item`: each signal is weighed once, each part's share and
    points (and their JSON) are remembered per input (`_remember`; an ingest batch
    repeats severities, signal scores, report counts and deadlines), and `scored_at` is
    printed once per `now`."""
    weighted = [float(s.get("score", 0.0)) * float(s.get("weight", 1.0)) for s in signals]
    strongest = max(weighted, default=0.0)
    strongest_name = next(
        (str(s.get("name")) for s, w in zip(signals, weighted, strict=True) if w == strongest),
        None,
    )
    sla_seconds = max(sla_hours * 3600.0, 1.0)
    seconds_left = (deadline_at - now).total_seconds()
    # Each share is bounded to 0-1 inline, as `_clamp`.
    severity_part = _SEVERITY.get(severity)
    if severity_part is None:
        v = (severity - 1) / 4
        v = v if v < 1.0 else 1.0
        severity_part = _remember(_SEVERITY, severity, v if v > 0.0 else 0.0, _W_SEVERITY)
    signal_part = _SIGNAL.get(strongest)
    if signal_part is None:
        v = strongest if strongest < 1.0 else 1.0
        signal_part = _remember(_SIGNAL, strongest, v if v > 0.0 else 0.0, _W_SIGNAL)
    reports_part = _REPORTS.get(report_count)
    if reports_part is None:
        v = _log10(1 + max(report_count, 0)) / 3
        v = v if v < 1.0 else 1.0
        reports_part = _remember(_REPORTS, report_count, v if v > 0.0 else 0.0, _W_REPORTS)
    reach_part = _REACH.get(views)
    if reach_part is None:
        v = _log10(1 + max(views, 0)) / 7
        v = v if v < 1.0 else 1.0
        reach_part = _remember(_REACH, views, v if v > 0.0 else 0.0, _W_REACH)
    deadline_key = (seconds_left, sla_seconds)
    deadline_part = _DEADLINE.get(deadline_key)
    if deadline_part is None:
        v = 1 - seconds_left / sla_seconds
        v = v if v < 1.0 else 1.0
        deadline_part = _remember(_DEADLINE, deadline_key, v if v > 0.0 else 0.0, _W_DEADLINE)
    total = round(
        sum(
            (
                severity_part[1],
                signal_part[1],
                reports_part[1],
                reach_part[1],
                deadline_part[1],
            )
        ),
        3,
    )
    global _scored_at
    cached = _scored_at
    if cached[0] is not now:
        iso = now.isoformat()
        cached = _scored_at = (now, iso, json.dumps(iso))
    return _Scored(
        total,
        strongest_name,
        strongest,
        round(seconds_left),
        severity_part,
        signal_part,
        reports_part,
        reach_part,
        deadline_part,
        cached,
    )


class ScoreInputs(TypedDict):
    """What an item's priority is computed from (`score_item`, `score_item_json`)."""

    severity: int
    signals: Sequence[dict[str, Any]]
    report_count: int
    views: int
    deadline_at: datetime
    sla_hours: float
    now: datetime


def score_item(**inputs: Unpack[ScoreInputs]) -> tuple[float, dict[str, Any]]:
    """Return `(priority, breakdown)` for an item at time `now`.

    The breakdown names every part's input, its share (0-1) and its points."""
    found = _score(**inputs)
    return found.total, {
        "total": found.total,
        "parts": {
            "severity": {
                "input": inputs["severity"],
                "share": found.severity[0],
                "points": found.severity[1],
            },
            "signal": {
                "input": {"name": found.strongest_name, "score": found.strongest},
                "share": found.signal[0],
                "points": found.signal[1],
            },
            "reports": {
                "input": inputs["report_count"],
                "share": found.reports[0],
                "points": found.reports[1],
            },
            "reach": {"input": inputs["views"], "share": found.reach[0], "points": found.reach[1]},
            "deadline": {
                "input": {"seconds_left": found.seconds_left, "sla_hours": inputs["sla_hours"]},
                "share": found.deadline[0],
                "points": found.deadline[1],
            },
        },
        "scored_at": found.scored_at[1],
    }


def score_item_json(**inputs: Unpack[ScoreInputs]) -> tuple[float, str]:
    """`(priority, json.dumps(breakdown))` of `score_item`, printed from remembered
    pieces without building the breakdown (what ingest's bulk store writes into the
    JSON column): same keys in the same order, `json.dumps`'s separators and numbers."""
    found = _score(**inputs)
    total = found.total
    return total, (
        f'{{"total": {number_json(total)}, "parts": {{'
        f'"severity": {{"input": {number_json(inputs["severity"])}, {found.severity[2]}}}, '
        f'"signal": {{"input": {{"name": {string_json(found.strongest_name)}, '
        f'"score": {number_json(found.strongest)}}}, {found.signal[2]}}}, '
        f'"reports": {{"input": {number_json(inputs["report_count"])}, {found.reports[2]}}}, '
        f'"reach": {{"input": {number_json(inputs["views"])}, {found.reach[2]}}}, '
        f'"deadline": {{"input": {{"seconds_left": {number_json(found.seconds_left)}, '
        f'"sla_hours": {number_json(inputs["sla_hours"])}}}, {found.deadline[2]}}}}}, '
        f'"scored_at": {found.scored_at[2]}}}'
    )
