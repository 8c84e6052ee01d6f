"""Inter-rater agreement: Krippendorff's alpha (nominal) and pairwise percent agreement.

Both work on *units* (items), each with the labels the reviewers gave it; units with
fewer than two labels carry no pair and are left out, as Krippendorff's method says.
`Agreement` accumulates a coincidence matrix unit by unit, so a report or an export
can compute alpha over millions of items in memory bounded by the number of labels.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

__all__ = [
    "Agreement",
    "item_agreement",
    "krippendorff_alpha_nominal",
    "pairwise_agreement",
]


@dataclass
class Agreement:
    """Running agreement over units of nominal labels.

    ```python
    acc = Agreement()
    acc.add(["remove", "remove"])
    acc.add(["remove", "no-violation", "remove"])
    acc.alpha, acc.pairwise
    ```
    """

    coincidences: defaultdict[tuple[Hashable, Hashable], float] = field(
        default_factory=lambda: defaultdict(float)
    )
    units: int = 0
    pairs: int = 0
    agreeing_pairs: int = 0

    def add(self, labels: Sequence[Hashable]) -> None:
        """Add one unit's labels (one per rater; missing raters are simply absent)."""
        m = len(labels)
        if m < 2:
            return
        self.units += 1
        counts = Counter(labels)
        for c, n_c in counts.items():
            for k, n_k in counts.items():
                pairs = n_c * (n_c - 1) if c == k else n_c * n_k
                if pairs:
                    self.coincidences[(c, k)] += pairs / (m - 1)
        same = sum(n * (n - 1) // 2 for n in counts.values())
        self.pairs += m * (m - 1) // 2
        self.agreeing_pairs += same

    @property
    def values(self) -> float:
        """n: the number of pairable values (labels in units with at least two)."""
        return sum(self.coincidences.values())

    @property
    def alpha(self) -> float | None:
        """Krippendorff's alpha for nominal data; None when it is undefined (no pairable
        values, or every value is the same category so no disagreement is expected)."""
        n_c: defaultdict[Hashable, float] = defaultdict(float)
        for (c, _), o in self.coincidences.items():
            n_c[c] += o
        n = sum(n_c.values())
        if n <= 1:
            return None
        observed = sum(o for (c, k), o in self.coincidences.items() if c != k)
        expected = sum(n_c[c] * n_c[k] for c in n_c for k in n_c if c != k)
        if expected == 0:
            return None
        return 1.0 - (n - 1) * observed / expected

    @property
    def pairwise(self) -> float | None:
        """Share of rater pairs, over all units, that gave the same label."""
        return self.agreeing_pairs / self.pairs if self.pairs else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary: units, pairable values, alpha, pairwise agreement."""
        return {
            "units": self.units,
            "values": round(self.values, 6),
            "alpha": None if self.alpha is None else round(self.alpha, 6),
            "pairwise": None if self.pairwise is None else round(self.pairwise, 6),
        }


def krippendorff_alpha_nominal(units: Iterable[Sequence[Hashable]]) -> float | None:
    """Krippendorff's alpha (nominal) of `units`, each the labels one item received."""
    acc = Agreement()
    for unit in units:
        acc.add(unit)
    return acc.alpha


def pairwise_agreement(units: Iterable[Sequence[Hashable]]) -> float | None:
    """Pairwise percent agreement (0..1) of `units`; None with no pair at all."""
    acc = Agreement()
    for unit in units:
        acc.add(unit)
    return acc.pairwise


def item_agreement(labels: Sequence[Hashable]) -> float | None:
    """One item's pairwise agreement: agreeing rater pairs / all pairs (None below two)."""
    if len(labels) < 2:
        return None
    pairs = list(combinations(labels, 2))
    return sum(a == b for a, b in pairs) / len(pairs)
