"""A batch's candidate keys as small numbers, and the stored items each batch item
shares keys with, counted for the whole batch at once.

Candidate keys (`fingerprints`: text bands, media digests) are 63-bit integers whose low
bits are far from uniform (a band key is a multiply-add of MinHash minima), so Python
sets and dicts keyed by them probe long collision chains: on the flood corpus about twice
the time per lookup of random keys. `batch_keys` numbers every key of a batch (those its
items query and those they store) `0..K-1` in numpy, once, and counts each item's stored
hits (keys shared with rows of `fingerprint_band`) with array operations instead of a
set intersection and a `Counter` per item. `assign_clusters` then works with the small
numbers: the keys it stores are still the original ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain, pairwise
from typing import Any, TypeVar

import numpy as np

__all__ = ["BatchKeys", "batch_keys"]

_T = TypeVar("_T")
_Ints = np.ndarray[Any, np.dtype[np.int64]]


@dataclass(slots=True)
class BatchKeys:
    """A batch's keys as small numbers (`batch_keys`), by the items' positions."""

    query: list[list[int]]
    """Each item's query keys as small numbers, in the order of `query_keys` (each
    once)."""
    query_keys: Sequence[Sequence[int]]
    """Each item's query keys (each once), as `query`."""
    stored: list[list[int]]
    """Each item's stored keys as small numbers, in the order of the original list."""
    stored_hits: list[dict[int, int]]
    """Each item's stored items: `{stored item: keys shared}`, in the order first met
    (the item's query keys with stored rows in the order of a Python set of them, each
    key's rows in the order read)."""
    width: int
    """How many keys the batch has: every small number is below it."""
    posting_keys: _Ints
    """The small number of the key of every stored row read, in the order read."""
    posting_items: _Ints
    """The item of every stored row read, as `posting_keys`."""


def _flat(lists: Sequence[Sequence[int]]) -> tuple[_Ints, list[int]]:
    lengths = [len(keys) for keys in lists]
    flat = np.fromiter(chain.from_iterable(lists), dtype=np.int64, count=sum(lengths))
    return flat, lengths


def _split(values: list[_T], lengths: list[int]) -> list[list[_T]]:
    found: list[list[_T]] = []
    start = 0
    for length in lengths:
        found.append(values[start : start + length])
        start += length
    return found


def _distinct(small: _Ints, lengths: list[int], width: int) -> bool:
    """Whether no list (of `small` numbers below `width`, cut by `lengths`) repeats
    one."""
    owners = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
    return len(np.unique(owners * width + small)) == len(small)


def batch_keys(
    query_keys: Sequence[Sequence[int]],
    stored_keys: Sequence[Sequence[int]],
    postings: Sequence[tuple[int, int]],
) -> BatchKeys:
    """Number the keys of a batch and count its items' stored hits.

    `query_keys` and `stored_keys`: each item's keys (by position; a query key listed
    twice counts once); `postings`: the `(key, item id)` rows of `fingerprint_band` read
    for the batch's query keys (every one of their keys is a query key)."""
    n = len(query_keys)
    asked, asked_lengths = _flat(query_keys)
    kept, kept_lengths = _flat(stored_keys)
    read = np.fromiter(
        chain.from_iterable(postings), dtype=np.int64, count=2 * len(postings)
    ).reshape(-1, 2)
    universe, small = np.unique(np.concatenate([asked, kept, read[:, 0]]), return_inverse=True)
    asked_small = small[: len(asked)]
    kept_small = small[len(asked) : len(asked) + len(kept)]
    posting_small = small[len(asked) + len(kept) :]
    if not _distinct(asked_small, asked_lengths, len(universe)):
        # (Only when two keys of an item collide: counted once, as by a set.)
        query_keys = [list(dict.fromkeys(keys)) for keys in query_keys]
        asked, asked_lengths = _flat(query_keys)
        asked_small = np.searchsorted(universe, asked)
    hits: list[dict[int, int]] = [{} for _ in range(n)]
    if len(postings) and len(asked):
        # Each key's stored rows, in the order read: `rows[first[k] : first[k] + count[k]]`.
        rows = read[np.argsort(posting_small, kind="stable"), 1]
        count = np.bincount(posting_small, minlength=len(universe))
        first = np.cumsum(count) - count
        # Each item's query keys that have stored rows, in the order a Python set of
        # them, filled in the item's key order, iterates (`set.intersection` of a
        # list): the order the counts met them in before, which breaks ties between
        # candidates, so the clusters stay exactly as they were.
        present = count[asked_small] > 0
        found_lengths: list[int] = np.bincount(
            np.repeat(np.arange(n, dtype=np.int64), asked_lengths)[present], minlength=n
        ).tolist()
        ordered = list(
            chain.from_iterable(
                set(keys) for keys in _split(asked[present].tolist(), found_lengths)
            )
        )
        ordered_small = np.searchsorted(universe, np.asarray(ordered, dtype=np.int64))
        low, carriers = first[ordered_small], count[ordered_small]
        total = int(carriers.sum())
        # Each (item, stored item) pair once per key they share, in that order.
        asker = np.repeat(np.repeat(np.arange(n, dtype=np.int64), found_lengths), carriers)
        starts = np.cumsum(carriers) - carriers
        other = rows[np.arange(total) - np.repeat(starts - low, carriers)]
        others, other_small = np.unique(other, return_inverse=True)
        width = len(others)
        pairs, met, counts = np.unique(
            asker * width + other_small, return_index=True, return_counts=True
        )
        owner = pairs // width
        rank = np.lexsort((met, owner))
        owner = owner[rank]
        ranked_others: list[int] = others[(pairs % width)[rank]].tolist()
        ranked_counts: list[int] = counts[rank].tolist()
        bounds: list[int] = np.searchsorted(owner, np.arange(n + 1)).tolist()
        for position, (start, end) in enumerate(pairwise(bounds)):
            if end > start:
                hits[position] = dict(
                    zip(ranked_others[start:end], ranked_counts[start:end], strict=True)
                )
    return BatchKeys(
        query=_split(asked_small.tolist(), asked_lengths),
        query_keys=query_keys,
        stored=_split(kept_small.tolist(), kept_lengths),
        stored_hits=hits,
        width=len(universe),
        posting_keys=posting_small,
        posting_items=read[:, 1],
    )
