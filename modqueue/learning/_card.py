"""The model card: JSON for machines, markdown for people, a precision-recall plot."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from modqueue.learning._data import Example

__all__ = ["PR_CURVE", "card_counts", "plot_pr_curve", "render_card_markdown"]

PR_CURVE = "pr_curve.png"


def card_counts(examples: Sequence[Example]) -> dict[str, Any]:
    """Decisions per split and label, violating per split, and guideline versions."""
    per_split: dict[str, Counter[str]] = {}
    violating: Counter[str] = Counter()
    for e in examples:
        per_split.setdefault(e.split, Counter())[e.label] += 1
        violating[e.split] += int(e.violating)
    labels = Counter(e.label for e in examples)
    return {
        "decisions": len(examples),
        "labels": dict(sorted(labels.items())),
        "by_split": {
            s: {"n": sum(c.values()), "violating": violating[s], "labels": dict(sorted(c.items()))}
            for s, c in sorted(per_split.items())
        },
        "guideline_versions": dict(sorted(Counter(e.guideline_version for e in examples).items())),
    }


def plot_pr_curve(
    truth: Sequence[int],
    scores: Sequence[float],
    path: Path,
    *,
    title: str,
    threshold: float | None,
) -> None:
    """Write the test split's precision-recall curve to `path` (PNG, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from sklearn.metrics import precision_recall_curve

    precision, recall, thresholds = precision_recall_curve(list(truth), list(scores))
    fig = Figure(figsize=(5, 4), dpi=100)
    ax = fig.add_subplot()
    ax.plot(recall, precision, drawstyle="steps-post", label="test split")
    if threshold is not None:
        idx = next((i for i, t in enumerate(thresholds) if t >= threshold), None)
        if idx is not None:
            ax.plot([recall[idx]], [precision[idx]], "o", label=f"threshold {threshold:.3f}")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_title(title)
    ax.legend(loc="lower left")
    fig.tight_layout()
    fig.savefig(path)


def _pct(value: Any) -> str:
    return "-" if value is None else f"{float(value):.3f}"


def render_card_markdown(card: dict[str, Any]) -> str:
    """The markdown model card for the JSON `card`."""
    test = card["metrics"]["test"]
    op = card["metrics"]["operating_point"]
    counts = card["counts"]
    lines = [
        f"# Model card: {card['policy']} {card['version']}",
        "",
        f"Signal `{card['signal']}`, trained {card['created_at']} on {counts['decisions']} final "
        "human decisions (propagated, bank-matched and model decisions left out).",
        f"Guideline `{card['policy']}` at training: `{card['guideline_version']}`.",
        "",
        "## Data",
        "",
        "| split | decisions | violating |",
        "| --- | ---: | ---: |",
    ]
    for name in ("train", "validation", "test"):
        s = counts["by_split"].get(name, {"n": 0, "violating": 0})
        lines.append(f"| {name} | {s['n']} | {s['violating']} |")
    lines += ["", "| label | decisions |", "| --- | ---: |"]
    lines += [f"| {label} | {n} |" for label, n in counts["labels"].items()]
    lines += ["", "| guideline version learned from | decisions |", "| --- | ---: |"]
    lines += [f"| `{v}` | {n} |" for v, n in counts["guideline_versions"].items()]
    lines += [
        "",
        "## Test split (violating or not, threshold 0.5)",
        "",
        "| precision | recall | F1 | PR-AUC | items | violating |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
        f"| {_pct(test['precision'])} | {_pct(test['recall'])} | {_pct(test['f1'])} "
        f"| {_pct(test['pr_auc'])} | {test['n']} | {test['violating']} |",
        "",
        f"## Operating point for precision {op['target_precision']:.2f}",
        "",
    ]
    if op["threshold"] is None:
        lines.append(
            f"No threshold reaches precision {op['target_precision']:.2f} on the "
            f"{op['chosen_on']} split: do not route by this model's score."
        )
    else:
        lines.append(
            f"Threshold **{op['threshold']:.4f}** (chosen on the {op['chosen_on']} split): "
            "on test, "
            f"precision {_pct(op.get('test_precision'))}, recall {_pct(op.get('test_recall'))}, "
            f"{100 * float(op.get('test_share_above', 0.0)):.1f}% of items above it."
        )
    tuning = card["metrics"]["tuning"]
    by_c = tuning["validation_pr_auc_by_c"]
    tuned = (
        ", ".join(f"{c}: {ap:.3f}" for c, ap in by_c.items())
        if by_c
        else "not tuned, validation holds one class"
    )
    lines += [
        "",
        "## Model",
        "",
        "Word (1-2) and character (3-5) n-gram TF-IDF, linear SVM with sigmoid-calibrated "
        f"probabilities; C = {tuning['c']} (validation PR-AUC by C: {tuned}).",
        f"scikit-learn {card['sklearn']}.",
        "",
        f"![precision-recall curve]({PR_CURVE})",
        "",
    ]
    return "\n".join(lines)
