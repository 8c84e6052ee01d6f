"""Agreement statistics against published and hand-computed values."""

from __future__ import annotations

import pytest

from modqueue.quality import (
    Agreement,
    item_agreement,
    krippendorff_alpha_nominal,
    pairwise_agreement,
)

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: four
# observers, twelve units, missing values; published nominal alpha 0.743, n = 40.
OBSERVERS = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
]
UNITS = [[v for v in unit if v is not None] for unit in zip(*OBSERVERS, strict=True)]


def test_krippendorff_published_nominal_example() -> None:
    acc = Agreement()
    for unit in UNITS:
        acc.add(unit)
    assert acc.values == pytest.approx(40.0)
    assert acc.units == 11  # unit 12 has a single value and is not pairable
    assert round(acc.alpha or 0.0, 3) == 0.743
    # By hand: off-diagonal coincidences sum to 8 (unit 6 [1,2,3,4] gives 4, units 2
    # [2,3,2,2] and 8 [1,2,1,1] give 2 each); marginals n_c = 1:9, 2:13, 3:10, 4:5, 5:3, so
    # sum_{c!=k} n_c n_k = 40^2 - 384 = 1216 and alpha = 1 - 39 * 8 / 1216.
    assert acc.alpha == pytest.approx(1 - 39 * 8 / 1216)


def test_two_raters_computed_by_hand() -> None:
    # Units (a,a) (a,b) (b,b) (b,b): o_aa=2 o_ab=o_ba=1 o_bb=4, n_a=3 n_b=5, n=8.
    # alpha = 1 - (n-1) * (o_ab+o_ba) / (2 n_a n_b) = 1 - 7*2/30 = 8/15.
    units = [("a", "a"), ("a", "b"), ("b", "b"), ("b", "b")]
    assert krippendorff_alpha_nominal(units) == pytest.approx(8 / 15)
    assert pairwise_agreement(units) == pytest.approx(3 / 4)


def test_three_raters_pairwise_by_hand() -> None:
    # (x,x,y): 1 of 3 pairs agree; (x,x,x): 3 of 3; total 4 of 6.
    units = [("x", "x", "y"), ("x", "x", "x")]
    assert pairwise_agreement(units) == pytest.approx(4 / 6)
    # o_xx = 2/2 + 6/2 = 4, o_xy = o_yx = 2/2 = 1, n_x = 5, n_y = 1, n = 6:
    # alpha = 1 - 5 * 2 / (2 * 5 * 1) = 0.
    assert krippendorff_alpha_nominal(units) == pytest.approx(0.0)


def test_perfect_and_undefined_cases() -> None:
    assert krippendorff_alpha_nominal([("a", "a"), ("b", "b")]) == pytest.approx(1.0)
    assert krippendorff_alpha_nominal([("a", "a"), ("a", "a")]) is None  # no variation
    assert krippendorff_alpha_nominal([("a",), ("b",)]) is None  # nothing pairable
    assert pairwise_agreement([("a",)]) is None
    assert item_agreement(["a"]) is None
    assert item_agreement(["a", "a", "b"]) == pytest.approx(1 / 3)
