"""How a cluster member differs from its representative, word by word.

A pure function (no database): `variant_diff(representative, variant)` splits both texts
into words and returns the variant as a run of parts, each `same` (also in the
representative), `added` (in the variant only: a new price, phone number, date) or
`removed` (in the representative only), in reading order. The TUI's cluster card
highlights the `added` and `removed` parts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Literal

__all__ = ["VariantDiff", "WordChange", "variant_diff"]

_WORD = re.compile(r"\S+")
ChangeKind = Literal["same", "added", "removed"]


@dataclass(frozen=True, slots=True)
class WordChange:
    """A run of words: `same`, `added` (variant only) or `removed` (representative
    only); `text` is the words joined by single spaces."""

    kind: ChangeKind
    text: str


@dataclass(frozen=True, slots=True)
class VariantDiff:
    """A variant against its representative, as runs of words in reading order."""

    parts: tuple[WordChange, ...]

    @property
    def added(self) -> list[str]:
        """The runs of words only the variant has."""
        return [p.text for p in self.parts if p.kind == "added"]

    @property
    def removed(self) -> list[str]:
        """The runs of words only the representative has."""
        return [p.text for p in self.parts if p.kind == "removed"]

    @property
    def identical(self) -> bool:
        """True when both texts have the same words (spacing aside)."""
        return all(p.kind == "same" for p in self.parts)


def variant_diff(representative: str | None, variant: str | None) -> VariantDiff:
    """`variant` against `representative`, word by word (whitespace only separates;
    case and punctuation count). A changed word shows as its `removed` run followed by
    the `added` one."""
    old = _WORD.findall(representative or "")
    new = _WORD.findall(variant or "")
    parts: list[WordChange] = []

    def add(kind: ChangeKind, words: list[str]) -> None:
        if words:
            parts.append(WordChange(kind, " ".join(words)))

    matcher = SequenceMatcher(a=old, b=new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            add("same", new[j1:j2])
        else:
            add("removed", old[i1:i2])
            add("added", new[j1:j2])
    return VariantDiff(tuple(parts))
