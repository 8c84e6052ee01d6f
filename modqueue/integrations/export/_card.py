"""The dataset card (`README.md`) of an export, from statistics gathered while writing."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from modqueue.integrations.export._records import FIELDS
from modqueue.quality import Agreement
from modqueue.queue import SPLITS

__all__ = ["CardStats", "render_card"]


@dataclass
class CardStats:
    """Counts per split and label, agreement per policy, guideline versions, dates."""

    by_split: Counter[str] = field(default_factory=Counter)
    by_label: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    agreement: Agreement = field(default_factory=Agreement)
    by_policy: dict[str, Agreement] = field(default_factory=lambda: defaultdict(Agreement))
    versions: Counter[tuple[str, str]] = field(default_factory=Counter)
    appeals: Counter[str] = field(default_factory=Counter)
    first: datetime | None = None
    last: datetime | None = None

    def add(self, record: dict[str, Any], labels: dict[str, str]) -> None:
        """Count one written record (`labels`: its annotators' labels)."""
        split = record["split"]
        self.by_split[split] += 1
        self.by_label[f"{record['policy']}/{record['label']}"][split] += 1
        values = list(labels.values())
        self.agreement.add(values)
        self.by_policy[record["policy"]].add(values)
        self.versions[(record["guideline_id"], record["guideline_version"])] += 1
        if record["appeal"]:
            self.appeals[record["appeal"]] += 1
        at = record["decided_at"]
        if at is not None:
            self.first = at if self.first is None or at < self.first else self.first
            self.last = at if self.last is None or at > self.last else self.last

    def add_tally(self, tally: Counter[tuple[str, str, str, str, str, str]]) -> None:
        """Count records by `(split, policy, label, guideline_id, guideline_version,
        appeal)` at once, as `add` counts them one by one (the fast path: it adds the
        labels of items with two or more with `add_labels`, and sets `first`/`last`)."""
        for (split, policy, label, guideline_id, version, appeal), n in tally.items():
            self.by_split[split] += n
            self.by_label[f"{policy}/{label}"][split] += n
            self.by_policy[policy]
            self.versions[(guideline_id, version)] += n
            if appeal:
                self.appeals[appeal] += n

    def add_labels(self, policy: str, labels: list[str]) -> None:
        """The agreement part of `add`, for one item with two or more labels."""
        self.agreement.add(labels)
        self.by_policy[policy].add(labels)

    @property
    def records(self) -> int:
        """Records written."""
        return sum(self.by_split.values())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready statistics."""
        return {
            "records": self.records,
            "splits": {s: self.by_split.get(s, 0) for s in SPLITS},
            "labels": {k: dict(v) for k, v in sorted(self.by_label.items())},
            "agreement": self.agreement.to_dict(),
            "policies": {p: a.to_dict() for p, a in sorted(self.by_policy.items())},
            "guideline_versions": [
                {"guideline": g, "version": v, "records": n}
                for (g, v), n in sorted(self.versions.items())
            ],
            "appeals": dict(self.appeals),
            "decided_from": self.first.isoformat() if self.first else None,
            "decided_to": self.last.isoformat() if self.last else None,
        }


_STRINGS = (
    "id",
    "source",
    "text",
    "url",
    "author",
    "policy",
    "label",
    "action",
    "guideline_id",
    "guideline_version",
    "decided_at",
    "appeal",
    "split",
)
_ANNOTATION = (
    ("annotator", "string"),
    ("label", "string"),
    ("source", "string"),
    ("seconds", "float64"),
    ("second_review", "bool"),
    ("kind", "string"),
    ("decided_at", "string"),
)


def _features_yaml(fmt: str) -> list[str]:
    """`dataset_info.features` in Hugging Face's YAML form: exact column types, so
    `datasets.load_dataset(out_dir)` never has to guess them from the first rows."""
    stamp = "timestamp[us, tz=UTC]" if fmt == "parquet" else "string"
    types = {name: "string" for name in _STRINGS}
    types["decided_at"] = stamp
    lines = ["dataset_info:", "  features:"]
    for name in FIELDS:
        lines.append(f"  - name: {name}")
        if name == "media":
            lines += ["    list:", "    - name: kind", "      dtype: string"]
            lines += ["    - name: url", "      dtype: string"]
        elif name == "annotations":
            lines.append("    list:")
            for field_name, dtype in _ANNOTATION:
                dtype = stamp if field_name == "decided_at" else dtype
                lines += [f"    - name: {field_name}", f"      dtype: {dtype}"]
        elif name == "agreement":
            lines.append("    dtype: float64")
        elif name == "automated":
            lines.append("    dtype: bool")
        else:
            lines.append(f"    dtype: {types[name]}")
    return lines


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def render_card(
    stats: CardStats, *, fmt: str, exported_at: datetime, filters: dict[str, str | None]
) -> str:
    """The Markdown dataset card, with Hugging Face `configs` front matter."""
    ext = fmt
    present = [s for s in SPLITS if stats.by_split.get(s, 0)]
    lines = ["---", "configs:", "- config_name: default", "  data_files:"]
    lines += [f"  - split: {s}\n    path: {s}.{ext}" for s in present]
    lines += [*_features_yaml(fmt), "---", "", "# modqueue moderation decisions", ""]
    lines += [
        f"Exported {exported_at.isoformat()} by `modqueue export` ({fmt}). "
        "One record per decided item; every reviewer's label is in `annotations`.",
        "",
    ]
    active = {k: v for k, v in filters.items() if v}
    if active:
        lines += ["Filters: " + ", ".join(f"{k} `{v}`" for k, v in active.items()), ""]
    lines += [
        f"Decisions from {stats.first.isoformat() if stats.first else 'n/a'} "
        f"to {stats.last.isoformat() if stats.last else 'n/a'}.",
        "",
        "## Splits",
        "",
        "| split | records |",
        "| --- | ---: |",
    ]
    lines += [f"| {s} | {stats.by_split.get(s, 0)} |" for s in SPLITS]
    lines += [f"| total | {stats.records} |", "", "## Labels per split", ""]
    lines += ["| policy/label | " + " | ".join(SPLITS) + " | total |", "| --- |" + " ---: |" * 4]
    for label, counts in sorted(stats.by_label.items()):
        cells = " | ".join(str(counts.get(s, 0)) for s in SPLITS)
        lines.append(f"| {label} | {cells} | {sum(counts.values())} |")
    lines += [
        "",
        "## Agreement",
        "",
        "Over items with at least two labels: Krippendorff's alpha (nominal) and pairwise "
        "percent agreement.",
        "",
        "| policy | items | alpha | pairwise |",
        "| --- | ---: | ---: | ---: |",
    ]
    for policy, acc in sorted(stats.by_policy.items()):
        lines.append(f"| {policy} | {acc.units} | {_fmt(acc.alpha)} | {_fmt(acc.pairwise)} |")
    acc = stats.agreement
    lines += [f"| all | {acc.units} | {_fmt(acc.alpha)} | {_fmt(acc.pairwise)} |", ""]
    lines += ["## Guideline versions", "", "| guideline | version | records |"]
    lines += ["| --- | --- | ---: |"]
    lines += [f"| {g} | `{v}` | {n} |" for (g, v), n in sorted(stats.versions.items())]
    if stats.appeals:
        lines += ["", "## Appeals", ""]
        lines += [f"- {k}: {v}" for k, v in sorted(stats.appeals.items())]
    lines += [
        "",
        "## Method and privacy",
        "",
        "- Splits (80/10/10) come from a hash of each item's content key: a MinHash of its",
        "  normalised text's word bigrams, so splits never change as data grows and",
        "  near-duplicate texts usually share a split (always, when they differ only in",
        "  case, punctuation, numbers, links or contact details).",
        "- Annotators and authors are keyed HMAC-SHA-256 pseudonyms; reviewer names,",
        "  author handles and reporter data are not exported.",
        "- Email addresses and phone numbers in text are replaced by `[EMAIL]` and `[PHONE]`.",
        "",
    ]
    return "\n".join(lines)
