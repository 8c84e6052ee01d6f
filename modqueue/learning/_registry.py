"""The model registry: train a version, list, show, activate and retire.

Artefacts live in files (`<models dir>/<policy>/<version>/`: `model.joblib`,
`card.json`, `card.md`, `pr_curve.png`); which version is active, and the last drift
check, live in the database (`model_version`), so every `modqueue serve` process and
terminal on one database agrees on the active model. Each change is an audit event.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlmodel import Session, col

from modqueue._exceptions import ModelError, NotFound
from modqueue._sections.models import ModelsConfig
from modqueue.guidelines import GuidelineSet
from modqueue.learning._artefact import CARD_JSON, MODEL_FILE
from modqueue.learning._card import PR_CURVE, card_counts, plot_pr_curve, render_card_markdown
from modqueue.learning._data import load_examples
from modqueue.learning._registry_models import ModelState, ModelVersion
from modqueue.learning._train import check_examples, train_model
from modqueue.queue import Permission, ReviewQueue, authorize, record_event

__all__ = [
    "activate_model",
    "active_models",
    "get_model",
    "guideline_warning",
    "list_models",
    "retire_model",
    "signal_name",
    "train_policy",
]

SIGNAL_PREFIX = "model:"


def signal_name(policy: str, version: str) -> str:
    """The signal a model's scores are stored under: `model:<policy>@<version>`."""
    return f"{SIGNAL_PREFIX}{policy}@{version}"


def _next_version(session: Session, policy: str) -> str:
    versions = session.scalars(
        select(col(ModelVersion.version)).where(col(ModelVersion.policy) == policy)
    ).all()
    numbers = [int(v[1:]) for v in versions if v.startswith("v") and v[1:].isdigit()]
    return f"v{max(numbers, default=0) + 1}"


def train_policy(
    queue: ReviewQueue,
    *,
    policy: str,
    config: ModelsConfig,
    actor: str = "cli",
    seed: int = 0,
) -> ModelVersion:
    """Train a model for `policy` from its final human decisions, save it with its card
    and register it as a `candidate` (activate it to score new items). Once reviewers
    are registered, `actor` needs the `lead` role.

    Raises `ModelError` for too few decisions or a single class, `NotFound` for an
    unknown policy.
    """
    guideline = queue.guidelines.get(policy)
    queue.run(
        lambda s: authorize(
            s, reviewer=actor, permission=Permission.MANAGE_MODELS, policy=policy, now=queue.clock()
        )
    )
    examples = queue.run(lambda s: load_examples(s, policy=policy))
    check_examples(examples, policy=policy, min_decisions=config.min_decisions)
    result = train_model(examples, target_precision=config.target_precision, seed=seed)
    now = queue.clock()
    version = queue.run(lambda s: _next_version(s, policy))
    folder = (config.dir / policy / version).resolve()
    folder.mkdir(parents=True, exist_ok=False)
    import joblib
    import sklearn

    joblib.dump(result.bundle, folder / MODEL_FILE, compress=3)
    counts = card_counts(examples)
    card = {
        "policy": policy,
        "version": version,
        "signal": signal_name(policy, version),
        "created_at": now.isoformat(),
        "guideline_version": guideline.version,
        "guideline_versions": sorted(counts["guideline_versions"]),
        "counts": counts,
        "metrics": result.metrics,
        "labels": {
            "violating": result.bundle.violating_label,
            "clean": result.bundle.clean_label,
        },
        "sklearn": sklearn.__version__,
        "pr_curve": PR_CURVE,
    }
    (folder / CARD_JSON).write_text(json.dumps(card, indent=2, sort_keys=True), encoding="utf-8")
    (folder / "card.md").write_text(render_card_markdown(card), encoding="utf-8")
    plot_pr_curve(
        result.test_truth,
        result.test_scores,
        folder / PR_CURVE,
        title=f"{policy} {version} (test split)",
        threshold=result.metrics["operating_point"]["threshold"],
    )

    def register(session: Session) -> ModelVersion:
        row = ModelVersion(
            policy=policy,
            version=version,
            state=ModelState.CANDIDATE,
            path=str(folder),
            guideline_versions=[guideline.version, *card["guideline_versions"]],
            metrics={**result.metrics, "decisions": counts["decisions"]},
            trained_by=actor,
            created_at=now,
            updated_at=now,
        )
        session.add(row)
        session.flush()
        record_event(
            session,
            actor=actor,
            event="model_trained",
            at=now,
            detail={"policy": policy, "version": version, "decisions": counts["decisions"]},
        )
        return row

    return queue.run(register)


def list_models(session: Session, *, policy: str | None = None) -> list[ModelVersion]:
    """Every registered model (of `policy`), by policy then newest first."""
    query = select(ModelVersion).order_by(col(ModelVersion.policy), col(ModelVersion.id).desc())
    if policy is not None:
        query = query.where(col(ModelVersion.policy) == policy)
    return list(session.scalars(query).all())


def get_model(session: Session, *, policy: str, version: str | None = None) -> ModelVersion:
    """One model: `version`, or else the active one, or else the newest."""
    rows = list_models(session, policy=policy)
    if version is not None:
        rows = [r for r in rows if r.version == version]
    else:
        rows = [r for r in rows if r.state == ModelState.ACTIVE] or rows
    if not rows:
        what = f"{policy} {version}" if version else f"policy {policy!r}"
        raise NotFound(f"no model for {what} (train one with `modqueue model train`)")
    return rows[0]


def active_models(session: Session) -> dict[str, ModelVersion]:
    """The active model of each policy that has one."""
    rows = session.scalars(
        select(ModelVersion).where(col(ModelVersion.state) == ModelState.ACTIVE)
    ).all()
    return {r.policy: r for r in rows}


def _set_state(
    session: Session, row: ModelVersion, state: str, *, actor: str, now: datetime
) -> None:
    before = row.state
    row.state = state
    row.updated_at = now
    record_event(
        session,
        actor=actor,
        event=f"model_{'activated' if state == ModelState.ACTIVE else state}",
        at=now,
        before={"state": before},
        after={"state": state},
        detail={"policy": row.policy, "version": row.version},
    )


def activate_model(
    session: Session, *, policy: str, version: str, actor: str, now: datetime
) -> ModelVersion:
    """Make `version` the model that scores `policy`'s new items; the one active before
    goes back to `candidate`. A retired model cannot be activated again."""
    authorize(session, reviewer=actor, permission=Permission.MANAGE_MODELS, policy=policy, now=now)
    row = get_model(session, policy=policy, version=version)
    session.refresh(row, with_for_update=True)
    if row.state == ModelState.RETIRED:
        raise ModelError(f"model {policy} {version} is retired: train a new one")
    if not (Path(row.path) / MODEL_FILE).is_file():
        raise ModelError(f"model {policy} {version}: artefact missing at {row.path}")
    for other in list_models(session, policy=policy):
        if other.state == ModelState.ACTIVE and other.version != version:
            _set_state(session, other, ModelState.CANDIDATE, actor=actor, now=now)
    if row.state != ModelState.ACTIVE:
        _set_state(session, row, ModelState.ACTIVE, actor=actor, now=now)
    return row


def retire_model(
    session: Session, *, policy: str, version: str, actor: str, now: datetime
) -> ModelVersion:
    """Retire `version`: it stops scoring (if active) and cannot be activated again."""
    authorize(session, reviewer=actor, permission=Permission.MANAGE_MODELS, policy=policy, now=now)
    row = get_model(session, policy=policy, version=version)
    if row.state != ModelState.RETIRED:
        _set_state(session, row, ModelState.RETIRED, actor=actor, now=now)
    return row


def guideline_warning(row: ModelVersion, guidelines: GuidelineSet) -> str | None:
    """A warning when `row`'s policy guideline changed since the model was trained."""
    if row.policy not in guidelines:
        return f"model {row.policy} {row.version}: guideline {row.policy!r} no longer exists"
    current = guidelines.get(row.policy).version
    trained = row.guideline_versions[0] if row.guideline_versions else None
    if trained != current:
        return (
            f"model {row.policy} {row.version}: guideline {row.policy!r} changed since training "
            f"(trained under {trained}, now {current}); retrain before relying on its scores"
        )
    return None
