"""An in-memory PDQ index: which stored hashes lie within a Hamming distance of a query.

Multi-index hashing: the 256 bits are cut into 16 chunks of 16 bits and each chunk
position gets an exact-match index (a sorted permutation with one offset per possible
chunk value, numpy arrays). Two hashes within distance 31 differ by at most one bit in
at least one chunk (16 chunks that each differ in 2 or more bits differ in 32 or more),
so a query looks up each chunk and its 16 one-bit neighbours (272 slices, gathered in
one vectorised step), then checks the candidates' full distance with a popcount. Larger
distances fall back to a vectorised scan of every hash.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["MIH_MAX_DISTANCE", "PdqIndex", "pdq_bytes"]

MIH_MAX_DISTANCE = 31
"""The largest distance the chunk index answers exactly; beyond it, a full scan."""
_CHUNKS = 16
_VALUES = 1 << 16
_FLIPS = np.array([0, *(1 << b for b in range(16))], dtype=np.int64)
_LANES = np.arange(_CHUNKS)[:, None]


def pdq_bytes(hashes: Sequence[str]) -> np.ndarray[tuple[int, ...], np.dtype[np.uint8]]:
    """PDQ hashes (hex) as an `(n, 32)` byte array."""
    if not hashes:
        return np.zeros((0, 32), dtype=np.uint8)
    return np.frombuffer(bytes.fromhex("".join(hashes)), dtype=np.uint8).reshape(-1, 32)


class PdqIndex:
    """PDQ hashes and their ids, searchable by Hamming distance (see the module
    docstring)."""

    def __init__(self, hashes: Sequence[str], ids: Sequence[int]) -> None:
        if len(hashes) != len(ids):
            raise ValueError("hashes and ids differ in length")
        raw = pdq_bytes(hashes)
        self.size = len(ids)
        self.ids = np.asarray(ids, dtype=np.int64)
        self.words = raw.view(">u8").astype(np.uint64) if self.size else np.zeros((0, 4), np.uint64)
        chunks = raw.view(">u2").astype(np.int64) if self.size else np.zeros((0, 16), np.int64)
        self._perm = np.empty((_CHUNKS, self.size), dtype=np.int32)
        self._offsets = np.empty((_CHUNKS, _VALUES + 1), dtype=np.int64)
        for i in range(_CHUNKS):
            order = np.argsort(chunks[:, i], kind="stable")
            self._perm[i] = order
            self._offsets[i] = np.searchsorted(chunks[order, i], np.arange(_VALUES + 1))
        self._flat = self._perm.reshape(-1)
        self._lane_base = (np.arange(_CHUNKS, dtype=np.int64) * self.size)[:, None]

    def __len__(self) -> int:
        return self.size

    def search(self, pdq: str, max_distance: int = MIH_MAX_DISTANCE) -> list[tuple[int, int]]:
        """`(id, distance)` of every stored hash within `max_distance` of `pdq`, nearest
        first."""
        return [(int(self.ids[r]), d) for r, d in self.search_rows(pdq, max_distance)]

    def search_rows(self, pdq: str, max_distance: int = MIH_MAX_DISTANCE) -> list[tuple[int, int]]:
        """`(row, distance)` of every stored hash within `max_distance` of `pdq` (`row`:
        its position in the hashes given), nearest first."""
        if not self.size:
            return []
        query = np.frombuffer(bytes.fromhex(pdq), dtype=np.uint8)
        words = query.view(">u8").astype(np.uint64)
        if max_distance > MIH_MAX_DISTANCE:
            rows = np.arange(self.size)
        else:
            values = query.view(">u2").astype(np.int64)[:, None] ^ _FLIPS[None, :]
            begin = self._offsets[_LANES, values]
            lengths = (self._offsets[_LANES, values + 1] - begin).reshape(-1)
            total = int(lengths.sum())
            if total == 0:
                return []
            starts = (begin + self._lane_base).reshape(-1)
            positions = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
            positions += np.arange(total)
            rows = self._flat[positions]
        distances = np.bitwise_count(self.words[rows] ^ words).sum(axis=1)
        keep = distances <= max_distance
        rows, first = np.unique(rows[keep], return_index=True)
        distances = distances[keep][first]
        order = np.argsort(distances, kind="stable")
        found = zip(rows[order].tolist(), distances[order].tolist(), strict=True)
        return [(int(r), int(d)) for r, d in found]

    def search_many(
        self, hashes: Sequence[str], max_distance: int = MIH_MAX_DISTANCE
    ) -> tuple[np.ndarray[Any, np.dtype[np.int64]], np.ndarray[Any, np.dtype[np.int64]]]:
        """Every `(query, row)` pair within `max_distance` (at most `MIH_MAX_DISTANCE`)
        of many queries at once, as two arrays (`query`: the position in `hashes`,
        `row`: the stored hash's position); each pair once, in no particular order."""
        none = np.zeros(0, dtype=np.int64)
        if not self.size or not hashes:
            return none, none
        queries = pdq_bytes(hashes)
        values = queries.view(">u2").astype(np.int64)[:, :, None] ^ _FLIPS[None, None, :]
        begin = self._offsets[_LANES[None], values]
        lengths = (self._offsets[_LANES[None], values + 1] - begin).reshape(-1)
        total = int(lengths.sum())
        if total == 0:
            return none, none
        starts = (begin + self._lane_base[None]).reshape(-1)
        positions = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
        positions += np.arange(total)
        rows = self._flat[positions].astype(np.int64)
        owners = np.repeat(np.arange(len(hashes), dtype=np.int64), _CHUNKS * len(_FLIPS))
        owners = np.repeat(owners, lengths)
        words = queries.view(">u8").astype(np.uint64)
        distances = np.bitwise_count(self.words[rows] ^ words[owners]).sum(axis=1)
        keep = distances <= min(max_distance, MIH_MAX_DISTANCE)
        pairs = np.unique(owners[keep] * self.size + rows[keep])
        return pairs // self.size, pairs % self.size
