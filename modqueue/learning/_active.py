"""Active learning: which items people should label first, and the model's
pre-annotation for each.

`uncertainty` puts first the items whose violation probability is closest to 0.5 (the
model learns most from them), `random` samples evenly (an unbiased view of the queue),
`priority` keeps the queue's own order.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from sqlmodel import Session

from modqueue._exceptions import ConfigError
from modqueue.learning._artefact import ModelBundle, Prediction, load_bundle
from modqueue.learning._registry import active_models, signal_name
from modqueue.queue import mask_pii

__all__ = ["STRATEGIES", "ActiveModel", "Strategy", "active_model_for", "rank_for_labeling"]

Strategy = Literal["uncertainty", "random", "priority"]
STRATEGIES: tuple[Strategy, ...] = ("uncertainty", "random", "priority")


class ActiveModel:
    """A policy's active model, loaded: its signal name and bundle."""

    def __init__(self, signal: str, bundle: ModelBundle) -> None:
        self.signal = signal
        self.bundle = bundle

    def predict(self, texts: Sequence[str | None]) -> list[Prediction]:
        """The model's output for each (unmasked) text."""
        return self.bundle.predict([mask_pii(t) if t else "" for t in texts])


def active_model_for(session: Session, policy: str) -> ActiveModel | None:
    """The loaded active model of `policy`, or None."""
    row = active_models(session).get(policy)
    if row is None:
        return None
    return ActiveModel(signal_name(policy, row.version), load_bundle(Path(row.path)))


def rank_for_labeling(
    strategy: str,
    candidates: Sequence[tuple[int, str | None]],
    *,
    model: ActiveModel | None,
    seed: int | None = None,
) -> list[int]:
    """The ids of `candidates` (`(item id, text)`, in queue order) in the order
    `strategy` sends them to annotators."""
    if strategy not in STRATEGIES:
        raise ConfigError(
            f"--strategy: unknown strategy {strategy!r} (use {', '.join(STRATEGIES)})"
        )
    ids = [c[0] for c in candidates]
    if strategy == "priority":
        return ids
    if strategy == "random":
        rng = random.Random(seed)
        rng.shuffle(ids)
        return ids
    if model is None:
        raise ConfigError("--strategy uncertainty needs an active model for the policy")
    scores = [p.score for p in model.predict([c[1] for c in candidates])]
    order = sorted(range(len(ids)), key=lambda i: (abs(scores[i] - 0.5), ids[i]))
    return [ids[i] for i in order]
