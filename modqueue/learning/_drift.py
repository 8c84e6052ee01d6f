"""Drift: is each active model still as precise on recent human decisions as on its test
split?

For every active model, the final human decisions of its policy made in the last
`drift_window` (and after the model was trained, so never its training data) are scored
again; the precision of its violation calls (score 0.5 or more) is compared with the
card's test precision. A model whose recent precision fell by more than `drift_margin`,
on at least `drift_min_decisions` decisions, is flagged: the flag is stored on the
registry row (shown by `modqueue model show` and on the lead dashboard) and its change
is an audit event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlmodel import Session

from modqueue._sections.models import ModelsConfig
from modqueue.learning._artefact import load_bundle
from modqueue.learning._data import load_examples
from modqueue.learning._registry import active_models
from modqueue.learning._registry_models import ModelVersion
from modqueue.queue import ReviewQueue, record_event

__all__ = ["DriftReport", "check_drift"]


@dataclass
class DriftReport:
    """The drift check of every active model, by policy, and the flagged ones."""

    checks: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def drifted(self) -> list[str]:
        """Policies whose model is flagged."""
        return sorted(p for p, c in self.checks.items() if c["drifted"])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"checks": dict(self.checks), "drifted": self.drifted}


def _check(
    session: Session, row: ModelVersion, *, config: ModelsConfig, now: datetime
) -> dict[str, Any]:
    since = max(now - timedelta(days=config.drift_window_days), row.created_at)
    examples = load_examples(session, policy=row.policy, since=since)
    scores = load_bundle(Path(row.path)).scores([e.text for e in examples]) if examples else []
    called = [e.violating for e, s in zip(examples, scores, strict=True) if s >= 0.5]
    recent = sum(called) / len(called) if called else None
    test = row.metrics.get("test", {}).get("precision")
    enough = len(examples) >= config.drift_min_decisions
    drifted = bool(
        enough and recent is not None and test is not None and recent < test - config.drift_margin
    )
    return {
        "checked_at": now.isoformat(),
        "since": since.isoformat(),
        "decisions": len(examples),
        "called_violating": len(called),
        "recent_precision": recent,
        "test_precision": test,
        "margin": config.drift_margin,
        "enough": enough,
        "drifted": drifted,
    }


def check_drift(queue: ReviewQueue, *, config: ModelsConfig) -> DriftReport:
    """Check every active model for drift and store the result on its registry row."""
    report = DriftReport()

    def work(session: Session) -> None:
        now = queue.clock()
        for policy, row in sorted(active_models(session).items()):
            result = _check(session, row, config=config, now=now)
            was = bool((row.drift or {}).get("drifted"))
            row.drift = result
            row.updated_at = now
            if was != result["drifted"]:
                record_event(
                    session,
                    actor="model-drift",
                    event="model_drift",
                    at=now,
                    before={"drifted": was},
                    after={"drifted": result["drifted"]},
                    detail={
                        "policy": policy,
                        "version": row.version,
                        "recent_precision": result["recent_precision"],
                        "test_precision": result["test_precision"],
                    },
                )
            report.checks[policy] = {"version": row.version, **result}

    queue.run(work)
    return report
