"""Replay: what a guideline change (and the active models) would do to past items.

For every item ingested in the window, routing runs again with the new guidelines' rules
and the active model of the policy it lands in: the queue it would go to (its policy,
or the policy's low lane when the model's score falls in the low band) and its priority
band at the moment it arrived, against what happened. An item whose stored policy is
not what the current rules give was sent with an explicit policy, and keeps it. For
decided items, the model's suggestion is compared with the human decision. Nothing is
written: `replay` reads in one session that is rolled back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from modqueue._sections.models import ModelsConfig
from modqueue.guidelines import Action, GuidelineSet
from modqueue.learning._artefact import ModelBundle, load_bundle
from modqueue.learning._data import is_human
from modqueue.learning._registry import SIGNAL_PREFIX, active_models, signal_name
from modqueue.learning._scoring import band_of
from modqueue.queue import (
    TRIAGE,
    Decision,
    DecisionStatus,
    Item,
    ReviewQueue,
    is_low_queue,
    low_queue,
    mask_pii,
    policy_of_queue,
    rescore_item,
)

__all__ = [
    "PRIORITY_BANDS",
    "PolicyReplay",
    "ReplayReport",
    "priority_band",
    "replay",
    "replay_routing",
]

PRIORITY_BANDS = ((80.0, "urgent"), (60.0, "high"), (40.0, "normal"), (0.0, "low"))
"""Priority bands by points (out of 100), highest first."""


def priority_band(priority: float) -> str:
    """The band a priority falls in (`urgent` 80+, `high` 60+, `normal` 40+, else `low`)."""
    return next(name for floor, name in PRIORITY_BANDS if priority >= floor)


@dataclass
class PolicyReplay:
    """One policy's replay figures (keyed by the policy items land in after replay)."""

    items: int = 0
    queue_changes: int = 0
    band_changes: int = 0
    moved_in: int = 0
    decided: int = 0
    model_label_agrees: int = 0
    model_violation_agrees: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, with agreement rates."""
        out: dict[str, Any] = dict(self.__dict__)
        out["label_agreement"] = self.model_label_agrees / self.decided if self.decided else None
        out["violation_agreement"] = (
            self.model_violation_agrees / self.decided if self.decided else None
        )
        return out


@dataclass
class ReplayReport:
    """A replay's window and per-policy figures."""

    since: datetime | None
    items: int = 0
    policies: dict[str, PolicyReplay] = field(default_factory=dict)
    models: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "since": self.since.isoformat() if self.since else None,
            "items": self.items,
            "models": dict(self.models),
            "policies": {k: v.to_dict() for k, v in sorted(self.policies.items())},
        }


def _human_decision(session: Session, item_ids: list[int]) -> dict[int, str]:
    """The action of each item's final human decision."""
    out: dict[int, str] = {}
    rows = session.execute(
        select(col(Decision.item_id), col(Decision.action), col(Decision.origin))
        .join(Item, col(Item.id) == col(Decision.item_id))
        .where(
            col(Decision.item_id).in_(item_ids),
            col(Decision.status) == DecisionStatus.ACTIVE,
            col(Decision.label) == col(Item.final_label),
        )
        .order_by(col(Decision.id))
    )
    for item_id, action, origin in rows:
        if is_human(origin):
            out[item_id] = action
    return out


def replay_routing(
    session: Session,
    *,
    guidelines: GuidelineSet,
    current: GuidelineSet,
    since: datetime | None,
    config: ModelsConfig | None = None,
    batch: int = 1000,
) -> ReplayReport:
    """Rerun routing over the items ingested after `since` (see the module docstring)
    under `guidelines` (the proposed ones; `current` are in force). Reads only."""
    config = config or ModelsConfig()
    report = ReplayReport(since=since)
    bundles: dict[str, tuple[str, ModelBundle]] = {}
    for policy, row in active_models(session).items():
        bundles[policy] = (signal_name(policy, row.version), load_bundle(Path(row.path)))
        report.models[policy] = bundles[policy][0]
    last = 0
    while True:
        query = select(Item).where(col(Item.id) > last).order_by(col(Item.id)).limit(batch)
        if since is not None:
            query = query.where(col(Item.ingested_at) > since)
        items = list(session.scalars(query).all())
        if not items:
            break
        last = items[-1].id or last
        human = _human_decision(session, [i.id for i in items if i.final_label and i.id])
        for item in items:
            _replay_item(
                item, human.get(item.id or 0), guidelines, current, bundles, config, report
            )
    return report


def replay(
    queue: ReviewQueue,
    *,
    guidelines: GuidelineSet,
    since: datetime | None,
    config: ModelsConfig | None = None,
) -> ReplayReport:
    """`replay_routing` against `queue`'s database and guidelines, in a read-only
    session that is rolled back whatever happens."""
    with Session(queue.engine) as session:
        try:
            return replay_routing(
                session,
                guidelines=guidelines,
                current=queue.guidelines,
                since=since,
                config=config,
            )
        finally:
            session.rollback()


def _replay_item(
    item: Item,
    human_action: str | None,
    guidelines: GuidelineSet,
    current: GuidelineSet,
    bundles: dict[str, tuple[str, ModelBundle]],
    config: ModelsConfig,
    report: ReplayReport,
) -> None:
    signals = [s for s in item.signals if not str(s.get("name", "")).startswith(SIGNAL_PREFIX)]
    pairs = [(str(s["name"]), float(s["score"])) for s in signals]
    stored = item.policy or TRIAGE
    routed_now = current.route(item.text, pairs) or TRIAGE
    explicit = routed_now != stored
    policy = stored if explicit else (guidelines.route(item.text, pairs) or TRIAGE)
    if policy not in guidelines:
        policy = stored if stored in guidelines else TRIAGE
    new_signals = list(signals)
    new_queue = policy
    prediction = None
    if policy in bundles and item.text:
        name, bundle = bundles[policy]
        prediction = bundle.predict([mask_pii(item.text)])[0]
        new_signals.append({"name": name, "score": prediction.score})
        if band_of(prediction.score, config.for_policy(policy)) == "low":
            new_queue = low_queue(policy)
    at = item.ingested_at
    old_priority, _ = rescore_item(current, item, now=at)
    new_policy = None if policy == TRIAGE else policy
    new_priority, _ = rescore_item(guidelines, item, now=at, policy=new_policy, signals=new_signals)
    entry = report.policies.setdefault(policy, PolicyReplay())
    report.items += 1
    entry.items += 1
    # Senior and second-review queues come after routing: compare policy and lane only.
    old_policy = policy_of_queue(item.queue)
    if old_policy != policy or is_low_queue(item.queue) != is_low_queue(new_queue):
        entry.queue_changes += 1
        entry.moved_in += int(old_policy != policy)
    if priority_band(old_priority) != priority_band(new_priority):
        entry.band_changes += 1
    if human_action is not None and prediction is not None:
        entry.decided += 1
        violating = human_action not in (Action.NONE.value,)
        entry.model_violation_agrees += int((prediction.score >= 0.5) == violating)
        entry.model_label_agrees += int(prediction.label == item.final_label)
