"""Training one policy's model: features, C tuned on validation, figures on test.

word (1-2) and character (3-5, within words) n-gram TF-IDF, a linear SVM whose scores
are calibrated to probabilities (sigmoid, 3-fold on the training split), C chosen by
PR-AUC on the validation split. The card's figures are measured on the test split; the
threshold for the target precision is chosen on validation (test when validation holds
one class only) and its precision and recall reported on test.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from modqueue._exceptions import ModelError
from modqueue.learning._artefact import ModelBundle
from modqueue.learning._data import Example

__all__ = ["C_GRID", "MIN_PER_CLASS", "TrainResult", "check_examples", "train_model"]

C_GRID = (0.1, 0.3, 1.0, 3.0, 10.0)
MIN_PER_CLASS = 5
CALIBRATION_FOLDS = 3


@dataclass
class TrainResult:
    """A fitted model and the figures for its card."""

    bundle: ModelBundle
    metrics: dict[str, Any]
    test_scores: list[float]
    test_truth: list[int]


def check_examples(examples: Sequence[Example], *, policy: str, min_decisions: int) -> None:
    """Refuse degenerate training data with a clear `ModelError`."""
    if len(examples) < min_decisions:
        raise ModelError(
            f"policy {policy!r}: only {len(examples)} final human decision(s) with text; "
            f"at least {min_decisions} are needed to train (models.min_decisions)"
        )
    classes = Counter(e.violating for e in examples)
    if len(classes) < 2:
        which = "violating" if next(iter(classes)) else "not violating"
        raise ModelError(
            f"policy {policy!r}: all {len(examples)} decisions are {which}: a model needs "
            "both violating and non-violating decisions"
        )
    for value, name in ((True, "violating"), (False, "non-violating")):
        if classes[value] < MIN_PER_CLASS:
            raise ModelError(
                f"policy {policy!r}: only {classes[value]} {name} decision(s); "
                f"at least {MIN_PER_CLASS} of each class are needed"
            )
    by_split: dict[str, Counter[bool]] = {}
    for e in examples:
        by_split.setdefault(e.split, Counter())[e.violating] += 1
    train = by_split.get("train", Counter())
    if min(train[True], train[False]) < CALIBRATION_FOLDS:
        raise ModelError(
            f"policy {policy!r}: the train split holds {train[True]} violating and "
            f"{train[False]} non-violating decision(s); at least {CALIBRATION_FOLDS} of each "
            "are needed"
        )
    test = by_split.get("test", Counter())
    if min(test[True], test[False]) < 1:
        raise ModelError(
            f"policy {policy!r}: the test split holds {test[True]} violating and "
            f"{test[False]} non-violating decision(s); both classes are needed to measure "
            "the model (decide more items)"
        )


def make_features() -> Any:
    """The TF-IDF feature union (word and character n-grams)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion

    return FeatureUnion(
        [
            (
                "word",
                TfidfVectorizer(
                    analyzer="word", ngram_range=(1, 2), sublinear_tf=True, max_features=200_000
                ),
            ),
            (
                "char",
                TfidfVectorizer(
                    analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True, max_features=300_000
                ),
            ),
        ]
    )


def make_classifier(c: float, seed: int = 0) -> Any:
    """A linear SVM with sigmoid-calibrated probabilities."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.svm import LinearSVC

    return CalibratedClassifierCV(
        LinearSVC(C=c, random_state=seed), method="sigmoid", cv=CALIBRATION_FOLDS
    )


def threshold_for(truth: Sequence[int], scores: Sequence[float], target: float) -> float | None:
    """The lowest score threshold whose precision is at least `target` (None if none)."""
    from sklearn.metrics import precision_recall_curve

    precision, _, thresholds = precision_recall_curve(list(truth), list(scores))
    for p, t in zip(precision[:-1], thresholds, strict=True):
        if p >= target:
            return float(t)
    return None


def _at(truth: Sequence[int], scores: Sequence[float], threshold: float) -> dict[str, Any]:
    from sklearn.metrics import f1_score, precision_score, recall_score

    pred = [int(s >= threshold) for s in scores]
    return {
        "precision": float(precision_score(truth, pred, zero_division=0)),
        "recall": float(recall_score(truth, pred, zero_division=0)),
        "f1": float(f1_score(truth, pred, zero_division=0)),
        "share_above": sum(pred) / len(pred) if pred else 0.0,
    }


def train_model(
    examples: Sequence[Example], *, target_precision: float, seed: int = 0
) -> TrainResult:
    """Fit on the train split, tune C on validation, measure on test (see the module
    docstring). Call `check_examples` first."""
    from sklearn.metrics import average_precision_score
    from sklearn.svm import LinearSVC

    split: dict[str, list[Example]] = {"train": [], "validation": [], "test": []}
    for e in examples:
        split[e.split].append(e)
    train, val, test = split["train"], split["validation"], split["test"]
    features = make_features()
    x_train = features.fit_transform([e.text for e in train])
    y_train = [int(e.violating) for e in train]
    y_val = [int(e.violating) for e in val]
    tuning: dict[str, float] = {}
    best_c = 1.0
    if len(set(y_val)) == 2:
        x_val = features.transform([e.text for e in val])
        best = -1.0
        for c in C_GRID:
            clf = make_classifier(c, seed).fit(x_train, y_train)
            ap = float(average_precision_score(y_val, clf.predict_proba(x_val)[:, 1]))
            tuning[str(c)] = round(ap, 4)
            if ap > best:
                best, best_c = ap, c
    classifier = make_classifier(best_c, seed).fit(x_train, y_train)

    violating = [e for e in train if e.violating]
    counts = Counter(e.label for e in violating)
    top_violating = counts.most_common(1)[0][0]
    clean = Counter(e.label for e in examples if not e.violating).most_common(1)[0][0]
    label_classifier = None
    if len(counts) > 1:
        label_classifier = LinearSVC(C=best_c, random_state=seed).fit(
            features.transform([e.text for e in violating]), [e.label for e in violating]
        )
    bundle = ModelBundle(
        features=features,
        classifier=classifier,
        label_classifier=label_classifier,
        violating_label=top_violating,
        clean_label=clean,
    )

    y_test = [int(e.violating) for e in test]
    s_test = bundle.scores([e.text for e in test])
    test_figures = _at(y_test, s_test, 0.5)
    threshold_split = "validation" if len(set(y_val)) == 2 else "test"
    if threshold_split == "validation":
        threshold = threshold_for(y_val, bundle.scores([e.text for e in val]), target_precision)
    else:
        threshold = threshold_for(y_test, s_test, target_precision)
    operating: dict[str, Any] = {
        "target_precision": target_precision,
        "chosen_on": threshold_split,
        "threshold": threshold,
    }
    if threshold is not None:
        operating |= {f"test_{k}": v for k, v in _at(y_test, s_test, threshold).items()}
    metrics = {
        "test": {
            "n": len(test),
            "violating": sum(y_test),
            "precision": test_figures["precision"],
            "recall": test_figures["recall"],
            "f1": test_figures["f1"],
            "pr_auc": float(average_precision_score(y_test, s_test)),
            "threshold": 0.5,
        },
        "operating_point": operating,
        "tuning": {"c": best_c, "validation_pr_auc_by_c": tuning},
    }
    return TrainResult(bundle=bundle, metrics=metrics, test_scores=s_test, test_truth=y_test)
