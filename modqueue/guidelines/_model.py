"""The value types of a guideline: actions, labels, routing rules and the document itself."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from modqueue._exceptions import UnknownLabel
from modqueue._fields import fields_dict

__all__ = [
    "REVERSAL_OF",
    "Action",
    "ClusterSettings",
    "Guideline",
    "GuidelineProblem",
    "Label",
    "RoutingRules",
    "SignalRule",
]


class Action(StrEnum):
    """What a decision asks the platform to do with the item."""

    NONE = "none"
    REMOVE = "remove"
    REMOVE_AND_BAN = "remove_and_ban"
    RESTRICT = "restrict"
    REFER_LAW_ENFORCEMENT = "refer_law_enforcement"
    ESCALATE = "escalate"


REVERSAL_OF: dict[Action, str] = {
    Action.REMOVE: "restore",
    Action.REMOVE_AND_BAN: "restore_and_unban",
    Action.RESTRICT: "unrestrict",
    Action.REFER_LAW_ENFORCEMENT: "withdraw_referral",
}
"""The platform action that undoes each takedown action (`none` and `escalate` have none)."""


@dataclass(frozen=True, slots=True)
class Label:
    """One decision a reviewer can take under a guideline.

    `hotkey` is the digit (1..9) that picks the label in the review screen; `action` is
    what the decision asks the platform to do; `description` (optional, one sentence)
    says when the label applies (Label Studio shows it as the choice's hint).
    """

    id: str
    title: str
    hotkey: int
    action: Action
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Return the label as a JSON-ready dict (`id`, `title`, `hotkey`, `action`,
        `description`)."""
        return fields_dict(self, action=self.action.value)


@dataclass(frozen=True, slots=True)
class SignalRule:
    """Route an item carrying a signal whose name starts with `prefix` and scores `>= min_score`."""

    prefix: str
    min_score: float = 0.5

    def matches(self, name: str, score: float) -> bool:
        """Return whether one signal `(name, score)` satisfies this rule."""
        return name.startswith(self.prefix) and score >= self.min_score


@dataclass(frozen=True, slots=True)
class RoutingRules:
    """How items that arrive without a policy find this guideline.

    `keywords` match case-insensitively as whole phrases in the item text; `signals`
    match classifier or hash-match signals by name prefix and minimum score.
    """

    keywords: tuple[str, ...] = ()
    signals: tuple[SignalRule, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.keywords or self.signals)

    def to_dict(self) -> dict[str, Any]:
        """Return the rules as a JSON-ready dict (`keywords`, `signals`)."""
        return {
            "keywords": list(self.keywords),
            "signals": [{"prefix": s.prefix, "min_score": s.min_score} for s in self.signals],
        }


@dataclass(frozen=True, slots=True)
class ClusterSettings:
    """How copies of an item cluster under a guideline (front matter `clusters:`).

    `text_jaccard`: the least estimated Jaccard similarity of two normalised texts'
    shingles for them to be copies (0 < x <= 1); `pdq_distance`: the largest Hamming
    distance between two PDQ hashes (0..256); `propagate`: what a late copy of a decided
    removal gets (`suggest`, `auto` or `off`); `propagate_review_share`: with `auto`, the
    share of late copies still sent to human review (0..1).
    """

    text_jaccard: float = 0.8
    pdq_distance: int = 31
    propagate: str = "suggest"
    propagate_review_share: float = 0.1

    def to_dict(self) -> dict[str, Any]:
        """Return the settings as a JSON-ready dict."""
        return fields_dict(self)


PROPAGATE_MODES = ("suggest", "auto", "off")
"""The allowed values of `clusters.propagate`."""


@dataclass(frozen=True, slots=True)
class Guideline:
    """One policy document: its metadata, labels, routing rules and markdown body.

    `version` is `"sha256:"` plus the first 16 hex digits of the SHA-256 of the file's
    bytes; every decision records it, so any edit to the file gives a new version.
    """

    id: str
    title: str
    severity: int
    sla_hours: float
    graphic: bool
    labels: tuple[Label, ...]
    routing: RoutingRules
    body: str
    version: str
    path: Path
    clusters: ClusterSettings = ClusterSettings()

    def label(self, label_id: str) -> Label:
        """Return the label with id `label_id`.

        Raises `UnknownLabel` naming the label and this guideline and listing the valid ids.
        """
        for label in self.labels:
            if label.id == label_id:
                return label
        valid = ", ".join(label.id for label in self.labels)
        raise UnknownLabel(
            f"guideline {self.id!r} has no label {label_id!r}; valid labels: {valid}"
        )

    def label_for_hotkey(self, hotkey: int) -> Label | None:
        """Return the label bound to digit `hotkey`, or `None` if no label uses it."""
        for label in self.labels:
            if label.hotkey == hotkey:
                return label
        return None

    def to_dict(self) -> dict[str, Any]:
        """Return the guideline as a JSON-ready dict (the path as a string)."""
        return {
            "id": self.id,
            "title": self.title,
            "severity": self.severity,
            "sla_hours": self.sla_hours,
            "graphic": self.graphic,
            "version": self.version,
            "labels": [label.to_dict() for label in self.labels],
            "routing": self.routing.to_dict(),
            "clusters": self.clusters.to_dict(),
            "body": self.body,
            "path": str(self.path),
        }


@dataclass(frozen=True, slots=True)
class GuidelineProblem:
    """One thing wrong with a guideline document, with the file and the line in it.

    `line` is 1-based; it is 0 for a problem with the folder rather than a file.
    """

    path: Path
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"
