"""`score_item` against the straightforward implementation it replaced: the same
priority and a byte-identical breakdown (as JSON) over varied inputs."""

from __future__ import annotations

import json
import math
import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from modqueue.queue._core.priority import WEIGHTS, score_item


def _reference(
    *,
    severity: int,
    signals: Sequence[dict[str, Any]],
    report_count: int,
    views: int,
    deadline_at: datetime,
    sla_hours: float,
    now: datetime,
) -> tuple[float, dict[str, Any]]:
    def clamp(value: float) -> float:
        return max(0.0, min(1.0, value))

    def weighted(signal: dict[str, Any]) -> float:
        return float(signal.get("score", 0.0)) * float(signal.get("weight", 1.0))

    strongest = max((weighted(s) for s in signals), default=0.0)
    strongest_name = next((str(s.get("name")) for s in signals if weighted(s) == strongest), None)
    sla_seconds = max(sla_hours * 3600.0, 1.0)
    seconds_left = (deadline_at - now).total_seconds()
    shares = {
        "severity": clamp((severity - 1) / 4),
        "signal": clamp(strongest),
        "reports": clamp(math.log10(1 + max(report_count, 0)) / 3),
        "reach": clamp(math.log10(1 + max(views, 0)) / 7),
        "deadline": clamp(1 - seconds_left / sla_seconds),
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


def _signals(rng: random.Random) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for n in range(rng.choice([0, 0, 1, 2, 3, 5])):
        signal: dict[str, Any] = {"name": rng.choice(["hash", "clf", "nsfw", n])}
        if rng.random() < 0.9:
            signal["score"] = rng.choice([0.0, -0.0, 1.0, 0.5, rng.random(), 1.5, -0.2, 1])
        if rng.random() < 0.3:
            signal["weight"] = rng.choice([0.25, 0.0, 1.0, rng.random()])
        found.append(signal)
    return found


def _case(rng: random.Random, now: datetime) -> dict[str, Any]:
    return {
        "severity": rng.choice([0, 1, 2, 3, 4, 5, 6]),
        "signals": _signals(rng),
        "report_count": rng.choice([0, -3, 1, 2, 7, 999, 1000, 10**6, rng.randrange(50)]),
        "views": rng.choice([0, -1, 9, 10**7 - 1, 10**7, 10**9, rng.randrange(10**6)]),
        "deadline_at": now + timedelta(seconds=rng.uniform(-200_000, 200_000)),
        "sla_hours": rng.choice([24.0, 1.0, 0.0, 0.0001, 72.5, rng.uniform(0, 100), 4]),
        "now": now,
    }


def test_score_item_matches_the_reference_on_varied_inputs() -> None:
    rng = random.Random(20260101)
    nows = [
        datetime(2026, 1, 1, 12, 0, tzinfo=UTC),
        datetime(2026, 1, 1, 13, 0, tzinfo=timezone(timedelta(hours=1))),  # equal instant
        datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=UTC),
        datetime(2026, 3, 4, 5, 6, 7),  # naive
    ]
    for i in range(4000):
        case = _case(rng, nows[(i // 7) % len(nows)])
        got, expected = score_item(**case), _reference(**case)
        assert json.dumps(got) == json.dumps(expected), case
        assert got == expected


def test_score_item_with_a_nan_signal_matches_the_reference() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    case: dict[str, Any] = {
        "severity": 3,
        "signals": [{"name": "odd", "score": float("nan")}, {"name": "ok", "score": 0.4}],
        "report_count": 2,
        "views": 10,
        "deadline_at": now,
        "sla_hours": 24.0,
        "now": now,
    }
    assert json.dumps(score_item(**case)) == json.dumps(_reference(**case))
