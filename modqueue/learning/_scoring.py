"""Pre-scoring: each policy's active model scores new items as the signal
`model:<policy>@<version>`.

The score reaches the item through the queue's own ingest path (a merge that adds the
signal and re-scores the pending item's priority, with an audit event whose actor is
the signal), so it counts in priority like any detector's signal and shows in the
priority breakdown. A cursor per model (the last item id scored) makes each run look
only at items that arrived since. The model never decides anything.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from modqueue._sections.models import ModelsConfig, PolicyModelConfig
from modqueue.learning._artefact import load_bundle
from modqueue.learning._registry import active_models, guideline_warning, signal_name
from modqueue.learning._registry_models import ModelVersion
from modqueue.queue import (
    Item,
    ItemStatus,
    ModelBand,
    ReviewQueue,
    SyncCursor,
    mask_pii,
    route_by_model,
)

__all__ = ["CURSOR_PREFIX", "PrescoreReport", "band_of", "prescore_pending"]

CURSOR_PREFIX = "model-prescore:"
log = logging.getLogger("modqueue.models")


@dataclass
class PrescoreReport:
    """What a pre-scoring run did, per signal: items scored, suggested (high band) and
    moved to the low lane; and warnings."""

    scored: dict[str, int] = field(default_factory=dict)
    suggested: dict[str, int] = field(default_factory=dict)
    low: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        """Items scored across models."""
        return sum(self.scored.values())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "scored": dict(self.scored),
            "suggested": dict(self.suggested),
            "low": dict(self.low),
            "total": self.total,
            "warnings": list(self.warnings),
        }


def _cursor(session: Session, name: str) -> int:
    row = session.get(SyncCursor, name)
    return int(row.value) if row is not None else 0


def _save_cursor(session: Session, name: str, value: int, queue: ReviewQueue) -> None:
    row = session.get(SyncCursor, name, with_for_update=True)
    now = queue.clock()
    if row is None:
        session.add(SyncCursor(name=name, value=str(value), updated_at=now))
    elif int(row.value) < value:
        row.value, row.updated_at = str(value), now


def band_of(score: float, bands: PolicyModelConfig) -> ModelBand | None:
    """The routing band a score falls in under `bands` (None: the normal queue)."""
    if bands.suggest_above is not None and score >= bands.suggest_above:
        return "suggest"
    if bands.low_below is not None and score < bands.low_below:
        return "low"
    return None


def _score_model(
    queue: ReviewQueue,
    model: ModelVersion,
    *,
    bands: PolicyModelConfig,
    report: PrescoreReport,
    batch: int,
    limit: int | None,
) -> None:
    bundle = load_bundle(Path(model.path))
    name = signal_name(model.policy, model.version)
    cursor_name = CURSOR_PREFIX + name
    scored = suggested = low = 0
    while limit is None or scored < limit:
        size = batch if limit is None else min(batch, limit - scored)

        def read(session: Session, size: int = size) -> tuple[int, list[Any]]:
            after = _cursor(session, cursor_name)
            rows = session.execute(
                select(
                    col(Item.id),
                    col(Item.source),
                    col(Item.external_id),
                    col(Item.text),
                    col(Item.signals),
                )
                .where(
                    col(Item.id) > after,
                    col(Item.policy) == model.policy,
                    col(Item.status) == ItemStatus.PENDING,
                )
                .order_by(col(Item.id))
                .limit(size)
            ).all()
            return after, list(rows)

        _, rows = queue.run(read)
        if not rows:
            break
        todo = [r for r in rows if r[3] and not any(s.get("name") == name for s in r[4] or ())]
        if todo:
            predictions = bundle.predict([mask_pii(r[3]) for r in todo])
            queue.enqueue(
                [
                    {
                        "source": r[1],
                        "external_id": r[2],
                        "text": r[3],
                        "signals": [{"name": name, "score": round(p.score, 4)}],
                    }
                    for r, p in zip(todo, predictions, strict=True)
                ],
                actor=name,
            )
            scored += len(todo)
            routed = [
                (r[0], band, p.label if band == "suggest" else bundle.clean_label, p.score)
                for r, p in zip(todo, predictions, strict=True)
                if (band := band_of(p.score, bands)) is not None
            ]

            def route(session: Session, routed: list[Any] = routed) -> list[str]:
                now = queue.clock()
                return [
                    band
                    for item_id, band, label, score in routed
                    if route_by_model(
                        session,
                        item_id=item_id,
                        band=band,
                        label=label,
                        signal=name,
                        score=score,
                        now=now,
                    )
                ]

            if routed:
                moved = queue.run(route)
                suggested += moved.count("suggest")
                low += moved.count("low")
        last: int = rows[-1][0]

        def save(session: Session, last: int = last) -> None:
            _save_cursor(session, cursor_name, last, queue)

        queue.run(save)
    report.scored[name] = scored
    report.suggested[name] = suggested
    report.low[name] = low


def prescore_pending(
    queue: ReviewQueue,
    *,
    config: ModelsConfig | None = None,
    batch: int = 500,
    limit: int | None = None,
) -> PrescoreReport:
    """Score the pending items that arrived since the last run with each policy's active
    model (at most `limit` per model) and apply the policy's routing bands from
    `config` (`[models.policies.P] suggest_above`, `low_below`); warns when a policy's
    guideline changed since its model was trained."""
    config = config or ModelsConfig()
    report = PrescoreReport()
    models = queue.run(active_models)
    for policy, model in sorted(models.items()):
        warning = guideline_warning(model, queue.guidelines)
        if warning:
            log.warning("%s", warning)
            report.warnings.append(warning)
        if policy not in queue.guidelines:
            continue
        _score_model(
            queue,
            model,
            bands=config.for_policy(policy),
            report=report,
            batch=batch,
            limit=limit,
        )
    return report
