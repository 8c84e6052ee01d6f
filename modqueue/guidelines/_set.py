"""`GuidelineSet`: the loaded guidelines of one folder, and routing between them."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from modqueue._exceptions import NotFound
from modqueue.guidelines._model import Guideline

__all__ = ["TRIAGE_ID", "GuidelineSet", "keyword_pattern"]

TRIAGE_ID = "triage"
"""The guideline that items matching no routing rule are decided under."""


def keyword_pattern(keyword: str) -> re.Pattern[str]:
    """Compile `keyword` into a case-insensitive whole-phrase pattern.

    The phrase must not sit inside a longer word ("pay on arrival" does not match
    "pay on arrivals"), and any run of whitespace in the keyword matches any run of
    whitespace in the text.
    """
    words = keyword.split()
    body = r"\s+".join(re.escape(word) for word in words)
    return re.compile(rf"(?<!\w){body}(?!\w)", re.IGNORECASE)


class GuidelineSet:
    """An immutable collection of guidelines, keyed by id.

    Iterating yields the guidelines sorted by id. `directory` is the folder they were
    loaded from.
    """

    __slots__ = ("_by_id", "_directory", "_keywords")

    _by_id: dict[str, Guideline]
    _directory: Path
    _keywords: dict[str, tuple[re.Pattern[str], ...]]

    def __init__(self, guidelines: Iterable[Guideline], *, directory: Path) -> None:
        by_id: dict[str, Guideline] = {}
        for guideline in guidelines:
            if guideline.id in by_id:
                raise ValueError(f"duplicate guideline id {guideline.id!r}")
            by_id[guideline.id] = guideline
        object.__setattr__(self, "_by_id", dict(sorted(by_id.items())))
        object.__setattr__(self, "_directory", directory)
        object.__setattr__(
            self,
            "_keywords",
            {g.id: tuple(keyword_pattern(k) for k in g.routing.keywords) for g in by_id.values()},
        )

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __repr__(self) -> str:
        return f"GuidelineSet({list(self._by_id)!r}, directory={str(self._directory)!r})"

    @property
    def directory(self) -> Path:
        """The folder the guidelines were loaded from."""
        return self._directory

    @property
    def ids(self) -> tuple[str, ...]:
        """The guideline ids, sorted."""
        return tuple(self._by_id)

    def get(self, guideline_id: str) -> Guideline:
        """Return the guideline with id `guideline_id`.

        Raises `NotFound` naming the id and listing the known ids.
        """
        try:
            return self._by_id[guideline_id]
        except KeyError:
            known = ", ".join(self._by_id) or "(none)"
            raise NotFound(
                f"no guideline {guideline_id!r} in {self._directory}; known guidelines: {known}"
            ) from None

    def __contains__(self, guideline_id: object) -> bool:
        return guideline_id in self._by_id

    def __iter__(self) -> Iterator[Guideline]:
        return iter(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)

    def route(self, text: str | None, signals: Sequence[tuple[str, float]]) -> str | None:
        """Return the id of the guideline an item without a policy belongs to.

        A guideline matches when one of its routing keywords appears in `text` as a whole
        phrase (case-insensitive), or when one of `signals` (`(name, score)` pairs)
        satisfies one of its signal rules. When several match, the highest severity
        wins, then the alphabetically first id. Returns `None` when nothing matches
        (the caller then uses the `triage` guideline, which never matches by routing).
        """
        matches: list[Guideline] = []
        for guideline in self._by_id.values():
            if guideline.id == TRIAGE_ID:
                continue
            if self._matches(guideline, text, signals):
                matches.append(guideline)
        if not matches:
            return None
        best = min(matches, key=lambda g: (-g.severity, g.id))
        return best.id

    def _matches(
        self, guideline: Guideline, text: str | None, signals: Sequence[tuple[str, float]]
    ) -> bool:
        if text and any(p.search(text) for p in self._keywords[guideline.id]):
            return True
        return any(
            rule.matches(name, score)
            for rule in guideline.routing.signals
            for name, score in signals
        )
