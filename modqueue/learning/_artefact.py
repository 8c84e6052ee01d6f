"""A trained model as one object: features, the calibrated violation classifier and the
label chooser; saved with joblib next to its card.

scikit-learn is imported only when a model is trained or loaded, never on import.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modqueue._exceptions import ModelError

__all__ = ["MODEL_FILE", "ModelBundle", "Prediction", "load_bundle", "read_card"]

MODEL_FILE = "model.joblib"
CARD_JSON = "card.json"


@dataclass(frozen=True, slots=True)
class Prediction:
    """A model's output for one text: the calibrated probability that it violates the
    policy, and the label it suggests (a takedown label at 0.5 or more)."""

    score: float
    label: str


class ModelBundle:
    """Fitted TF-IDF features, a calibrated linear classifier (violating or not) and a
    linear classifier choosing among the violating labels."""

    def __init__(
        self,
        *,
        features: Any,
        classifier: Any,
        label_classifier: Any | None,
        violating_label: str,
        clean_label: str,
    ) -> None:
        self.features = features
        self.classifier = classifier
        self.label_classifier = label_classifier
        self.violating_label = violating_label
        self.clean_label = clean_label

    def scores(self, texts: Sequence[str]) -> list[float]:
        """The probability that each text violates the policy."""
        if not texts:
            return []
        matrix = self.features.transform(list(texts))
        return [float(p) for p in self.classifier.predict_proba(matrix)[:, 1]]

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        """Score and suggested label of each text."""
        if not texts:
            return []
        matrix = self.features.transform(list(texts))
        probs = self.classifier.predict_proba(matrix)[:, 1]
        if self.label_classifier is not None:
            labels = [str(x) for x in self.label_classifier.predict(matrix)]
        else:
            labels = [self.violating_label] * len(texts)
        return [
            Prediction(float(p), label if p >= 0.5 else self.clean_label)
            for p, label in zip(probs, labels, strict=True)
        ]


_cache: dict[tuple[str, float], ModelBundle] = {}
_cache_lock = threading.Lock()


def load_bundle(folder: Path) -> ModelBundle:
    """The model saved in `folder` (cached per process while the file is unchanged).

    Raises `ModelError` naming the folder when it is missing or unreadable. The file is
    a pickle: load only artefacts modqueue wrote.
    """
    path = folder / MODEL_FILE
    try:
        key = (str(path.resolve()), path.stat().st_mtime)
    except OSError:
        raise ModelError(f"{path}: model artefact not found") from None
    with _cache_lock:
        if key in _cache:
            return _cache[key]
    import joblib

    try:
        bundle = joblib.load(path)
    except Exception as exc:
        raise ModelError(f"{path}: cannot load the model ({type(exc).__name__}: {exc})") from None
    if not isinstance(bundle, ModelBundle):
        raise ModelError(f"{path}: not a modqueue model")
    with _cache_lock:
        _cache[key] = bundle
    return bundle


def read_card(folder: Path) -> dict[str, Any]:
    """The card (`card.json`) of the model in `folder`."""
    path = folder / CARD_JSON
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path}: cannot read the model card ({exc})") from None
    if not isinstance(value, dict):
        raise ModelError(f"{path}: the model card is not a JSON object")
    return value
