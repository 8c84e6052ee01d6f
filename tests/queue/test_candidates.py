"""A batch's stored hits counted at once (`candidates.batch_keys`) are what counting them
item by item gives, in the same order (the order breaks ties between candidates)."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from itertools import chain

import numpy as np

from modqueue.queue._items.candidates import batch_keys
from modqueue.queue._items.fingerprints import band_keys


def _keys(rng: random.Random, count: int) -> list[int]:
    """Real band keys (their low bits are far from uniform), some tagged as others are."""
    found: list[int] = []
    while len(found) < count:
        signature = np.array([rng.getrandbits(20) for _ in range(128)], dtype=np.uint32)
        found.extend(band_keys(signature))
    found.extend(k | (4 << 56) for k in found[: count // 10])
    return found[:count]


def _one_by_one(query: list[int], postings: dict[int, list[int]]) -> dict[int, int]:
    """The reference: a set intersection of the stored keys with the item's keys, each
    key's rows in the order read, counted by a `Counter`."""
    return dict(
        Counter(chain.from_iterable(map(postings.__getitem__, set(postings).intersection(query))))
    )


def test_stored_hits_are_those_counted_item_by_item_in_the_same_order() -> None:
    rng = random.Random(5)
    for _round in range(20):
        universe = _keys(rng, rng.randint(1, 400))
        rows = [(rng.choice(universe), rng.randint(1, 60)) for _ in range(rng.randint(0, 600))]
        postings: dict[int, list[int]] = {}
        for key, item in rows:
            postings.setdefault(key, []).append(item)
        query = [
            rng.sample(universe, rng.randint(0, min(30, len(universe))))
            for _ in range(rng.randint(1, 40))
        ]
        if query and query[0]:
            query[0] = [*query[0], query[0][0]]  # a key listed twice counts once
        stored = [rng.sample(universe, rng.randint(0, min(10, len(universe)))) for _ in query]
        found = batch_keys(query, stored, rows)
        for position, keys in enumerate(query):
            expected = _one_by_one(keys, postings)
            assert list(found.stored_hits[position].items()) == list(expected.items())
        # One small number per key, the same wherever the key appears.
        number: dict[int, int] = {}
        listed: list[tuple[Sequence[int], Sequence[int]]] = [
            *zip(query, found.query, strict=True),
            *zip(found.query_keys, found.query, strict=True),
            *zip(stored, found.stored, strict=True),
            *(((k,), (int(s),)) for (k, _), s in zip(rows, found.posting_keys, strict=True)),
        ]
        for listed_keys, small in listed:
            for key, n in zip(dict.fromkeys(listed_keys), small, strict=True):
                assert number.setdefault(key, n) == n
        assert len(set(number.values())) == len(number)
        assert [int(v) for v in found.posting_items] == [item for _, item in rows]


def test_a_batch_without_stored_rows_or_keys() -> None:
    found = batch_keys([[], [3, 5]], [[3], []], [])
    assert found.stored_hits == [{}, {}]
    assert len(found.posting_keys) == 0 and len(found.posting_items) == 0
    assert found.query[0] == [] and len(found.query[1]) == 2
    assert found.stored[0] == [found.query[1][0]]
