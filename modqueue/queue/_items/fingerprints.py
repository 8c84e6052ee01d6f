"""Fingerprints of an item's content and the candidate keys copies share.

- Text: the words `normalise_text` keeps (case, digits, contacts, URLs and punctuation
  gone, as in the export), joined by single spaces and cut into shingles of 5 UTF-8
  bytes; each shingle, read as a little-endian 40-bit integer, is hashed to 32 bits
  (times 0x9E3779B97F4A7C15 modulo 2^64, top 32 bits) and the MinHash of that set
  (`datasketch`'s scheme `affine32` with 128 permutations, seed 1: each hash mixed by
  the 32-bit MurmurHash3 finalizer, then `a * h + b` modulo 2^32 per permutation, the
  minimum kept) estimates the Jaccard similarity of two texts. `text_signatures`
  computes the signatures of a whole batch at once in numpy (the permutations of all its
  shingles in blocks, minima per text by `reduceat`): exactly the values
  `datasketch.MinHash.update_batch` gives, with its permutation parameters, without a
  Python step per text or shingle. Its LSH band keys (bands and rows chosen by
  datasketch's optimal-parameter helper for `LSH_THRESHOLD`, weighted towards recall)
  find the candidates; the estimated Jaccard then decides.
- Media: a SHA-256 digest (exact copies) and, for images, a PDQ hash (64 hex digits);
  two PDQ hashes match within a Hamming distance. PDQ candidates are not keyed: they
  come from an in-memory index of the stored hashes searched by distance
  (`pdq_store.pdq_neighbours`); `pdq_chunk_hits` weighs a PDQ candidate as the 16-bit
  chunk keys the two hashes would share.

Every key is a 63-bit integer: a kind tag in the top bits, the kind's value below.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from datasketch import MinHash
from datasketch.lsh import _optimal_param

from modqueue.queue._items.content import normalise_text

Signature = np.ndarray[tuple[int, ...], np.dtype[np.uint32]]
"""A MinHash signature: `NUM_PERM` unsigned 32-bit values."""

__all__ = [
    "BANDS",
    "LSH_THRESHOLD",
    "NUM_PERM",
    "PDQ_CHUNKS",
    "ROWS",
    "SEED",
    "SHORT_TEXT_WORDS",
    "Fingerprints",
    "Signature",
    "band_keys",
    "estimated_jaccard",
    "fingerprints_many",
    "fingerprints_of",
    "is_hex64",
    "needs_fetch",
    "pdq_chunk_hits",
    "pdq_distance",
    "sha256_key",
    "signature_from_hex",
    "signature_hex",
    "signatures_from_hex",
    "text_signature",
    "text_signatures",
]

NUM_PERM = 128
"""MinHash permutations (the bank format's `num_perm`)."""
SEED = 1
"""MinHash seed (the bank format's `seed`)."""
LSH_THRESHOLD = 0.6
"""Jaccard similarity the candidate search is tuned for (below any guideline's default)."""
BANDS, ROWS = _optimal_param(LSH_THRESHOLD, NUM_PERM, 0.2, 0.8)
SHINGLE = 5
"""UTF-8 bytes per text shingle."""
SHORT_TEXT_WORDS = 5
"""Texts with fewer normalised words match only when their signatures are identical."""
PDQ_CHUNKS = 16
"""16-bit chunks of a PDQ hash (`pdq_chunk_hits`)."""

_TAG_BAND = 1 << 56
_TAG_SHA = 3 << 56  # tag 2 << 56 was the PDQ chunk keys' (removed by migration 0023)
_TAG_SHORT_MEDIA = 4 << 56
"""The band keys of a short text beside media (`Fingerprints.stored_keys`)."""
_LOW56 = (1 << 56) - 1
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_MODEL = MinHash(num_perm=NUM_PERM, seed=SEED, scheme="affine32")
_A = np.asarray(_MODEL.permutations[0], dtype=np.uint32)[:, None]
_B = np.asarray(_MODEL.permutations[1], dtype=np.uint32)[:, None]
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_LOW40 = np.uint64((1 << 40) - 1)
_BLOCK = 2048
"""Shingles permuted at once (a block of 128 x 2,048 uint32 values is 1 MiB: in cache, a
third faster than 8,192 on this machine)."""
_RECENT_LIMIT = 8192
"""Signatures kept by normalised text (`_RECENT`): copies in a flood normalise to the
same words, so most of a flood's signatures are computed once."""
_RECENT: dict[bytes, np.ndarray[Any, np.dtype[np.uint32]]] = {}
_RECENT_LOCK = threading.Lock()
_MIX = np.random.default_rng(20261130)
_BAND_MULTIPLIERS = _MIX.integers(1, 2**63, size=(BANDS, ROWS), dtype=np.uint64) | np.uint64(1)
_BAND_OFFSETS = _MIX.integers(0, 2**63, size=BANDS, dtype=np.uint64)


def is_hex64(value: str) -> bool:
    """Whether `value` is 64 lower-case hex digits (a SHA-256 or a PDQ hash)."""
    return bool(_HEX64.fullmatch(value))


def _fmix32(values: np.ndarray[Any, np.dtype[np.uint32]]) -> np.ndarray[Any, np.dtype[np.uint32]]:
    """The MurmurHash3 32-bit finalizer, element-wise (datasketch's pre-mix)."""
    values = values ^ (values >> np.uint32(16))
    values = values * np.uint32(0x85EBCA6B)
    values = values ^ (values >> np.uint32(13))
    values = values * np.uint32(0xC2B2AE35)
    mixed: np.ndarray[Any, np.dtype[np.uint32]] = values ^ (values >> np.uint32(16))
    return mixed


def _signatures(blobs: Sequence[bytes]) -> np.ndarray[Any, np.dtype[np.uint32]]:
    """The MinHash signatures (one row each) of the 5-byte shingle sets of `blobs` (each
    at least `SHINGLE` bytes long)."""
    n = len(blobs)
    lengths = np.fromiter(map(len, blobs), dtype=np.int64, count=n)
    data = np.frombuffer(b"".join(blobs), dtype=np.uint8).astype(np.uint64)
    span = len(data) - SHINGLE + 1
    every = data[:span].copy()
    for offset in range(1, SHINGLE):
        every |= data[offset : offset + span] << np.uint64(8 * offset)
    # The shingles inside each blob (none across two), tagged with the blob's number.
    counts = lengths - (SHINGLE - 1)
    ends = np.cumsum(counts)
    starts = np.cumsum(lengths) - lengths
    shift = np.repeat(starts - (ends - counts), counts)
    positions = np.arange(int(ends[-1]), dtype=np.int64) + shift
    owners = np.repeat(np.arange(n, dtype=np.uint64), counts)
    tagged = np.unique((owners << np.uint64(40)) | every[positions])
    hashed = _fmix32((((tagged & _LOW40) * _GOLDEN) >> np.uint64(32)).astype(np.uint32))
    bounds = np.searchsorted(tagged >> np.uint64(40), np.arange(n + 1, dtype=np.uint64))
    # One row per permutation: `reduceat` along rows is many times faster than down
    # columns.
    found = np.empty((NUM_PERM, n), dtype=np.uint32)
    first = 0
    while first < n:
        # Whole blobs, up to `_BLOCK` shingles (at least one blob).
        last = int(np.searchsorted(bounds, bounds[first] + _BLOCK, side="right")) - 1
        last = min(max(last, first + 1), n)
        block = _A * hashed[None, bounds[first] : bounds[last]]
        block += _B
        found[:, first:last] = np.minimum.reduceat(
            block, bounds[first:last] - bounds[first], axis=1
        )
        first = last
    return np.ascontiguousarray(found.T)


def _signed(
    texts: Sequence[str | None], known: Sequence[list[str] | None] | None = None
) -> tuple[list[tuple[int, int]], np.ndarray[Any, np.dtype[np.uint32]]]:
    """The texts with words left as `(position, word count)`, and their signatures (one
    row each, in that order). Texts normalising to the same words share one
    computation, in the batch and with recent batches (`_RECENT`). `known`: each
    text's `normalise_text` where the caller has it already (None where not)."""
    rows: dict[bytes, int] = {}
    owners: list[tuple[int, int]] = []
    picks: list[int] = []
    for position, text in enumerate(texts):
        words = known[position] if known is not None else None
        if words is None:
            words = normalise_text(text) if text else None
        if not words:
            continue
        blob = " ".join(words).encode()
        if len(blob) < SHINGLE:
            blob += bytes(SHINGLE - len(blob))
        picks.append(rows.setdefault(blob, len(rows)))
        owners.append((position, len(words)))
    if not owners:
        return owners, np.empty((0, NUM_PERM), dtype=np.uint32)
    unique = np.empty((len(rows), NUM_PERM), dtype=np.uint32)
    with _RECENT_LOCK:
        cached = {row: _RECENT[blob] for blob, row in rows.items() if blob in _RECENT}
    for row, signature in cached.items():
        unique[row] = signature
    missing = [(blob, row) for blob, row in rows.items() if row not in cached]
    if missing:
        computed = _signatures([blob for blob, _ in missing])
        unique[[row for _, row in missing]] = computed
        with _RECENT_LOCK:
            if len(_RECENT) + len(missing) > _RECENT_LIMIT:
                _RECENT.clear()
            _RECENT.update((blob, computed[i]) for i, (blob, _) in enumerate(missing))
    return owners, unique[picks]


def text_signatures(texts: Sequence[str | None]) -> list[tuple[Signature, int] | None]:
    """`text_signature` of each of `texts`, computed together (see the module
    docstring): the same values, a fraction of the time per text."""
    found: list[tuple[Signature, int] | None] = [None] * len(texts)
    owners, signatures = _signed(texts)
    for row, (position, words) in enumerate(owners):
        found[position] = (signatures[row], words)
    return found


def text_signature(text: str | None) -> tuple[Signature, int] | None:
    """The MinHash signature of `text` (uint32 values) and its normalised word count, or
    `None` when no words are left."""
    return text_signatures([text])[0]


def signature_hex(signature: Signature) -> str:
    """A signature as 1,024 hex digits (128 big-endian 32-bit values)."""
    return signature.astype(">u4").tobytes().hex()


def signature_from_hex(value: str) -> Signature:
    """The signature `signature_hex` wrote."""
    signature: Signature = np.frombuffer(bytes.fromhex(value), dtype=">u4").astype(np.uint32)
    return signature


def signatures_from_hex(values: Sequence[str]) -> list[Signature]:
    """`signature_from_hex` of each of `values`, decoded in one step."""
    if not values:
        return []
    decoded = np.frombuffer(bytes.fromhex("".join(values)), dtype=">u4").astype(np.uint32)
    return list(decoded.reshape(len(values), NUM_PERM))


def estimated_jaccard(a: Signature, b: Signature) -> float:
    """The Jaccard similarity two signatures estimate (share of equal values)."""
    return float(np.count_nonzero(a == b)) / len(a)


def band_keys(signature: Signature) -> list[int]:
    """The LSH band keys of a signature (`BANDS` of `ROWS` values each): each band's
    values mixed with fixed random 64-bit multipliers (a multiply-add hash per band)."""
    return _band_keys_many(signature[None, :])[0]


def _band_keys_many(signatures: np.ndarray[Any, np.dtype[np.uint32]]) -> list[list[int]]:
    """`band_keys` of each row of `signatures`."""
    rows = signatures[:, : BANDS * ROWS].astype(np.uint64).reshape(-1, BANDS, ROWS)
    mixed = (rows * _BAND_MULTIPLIERS).sum(axis=2, dtype=np.uint64) + _BAND_OFFSETS
    keys: list[list[int]] = ((mixed >> np.uint64(8)) | np.uint64(_TAG_BAND)).tolist()
    return keys


def sha256_key(digest: str) -> int:
    """The candidate key of a SHA-256 digest (hex)."""
    return _TAG_SHA | (int(digest[:14], 16) & _LOW56)


def pdq_chunk_hits(a: str, b: str) -> int:
    """Of the 16 chunks of 16 bits of two PDQ hashes, how many differ in at most one
    bit: the chunk keys the two would share (a candidate's weight). Two hashes within
    distance 31 share at least one (16 chunks that differ in 2 or more bits differ in
    32 or more)."""
    diff = int(a, 16) ^ int(b, 16)
    return sum(((diff >> (16 * i)) & 0xFFFF).bit_count() <= 1 for i in range(PDQ_CHUNKS))


def pdq_distance(a: str, b: str) -> int:
    """Hamming distance between two PDQ hashes (hex)."""
    return (int(a, 16) ^ int(b, 16)).bit_count()


@dataclass(slots=True)
class Fingerprints:
    """What one item looks like: its text signature (and word count), media digests and
    PDQ hashes."""

    signature: Signature | None = None
    words: int = 0
    sha256: list[str] = field(default_factory=list)
    pdq: list[str] = field(default_factory=list)
    media_pending: bool = False
    cached_bands: list[int] | None = field(default=None, repr=False, compare=False)
    """The band keys of `signature` when computed with it (`fingerprints_many`)."""
    cached_hex: str | None = field(default=None, repr=False, compare=False)
    """`signature_hex(signature)` when computed with it (`fingerprints_many`)."""

    def bands(self) -> list[int]:
        """The LSH band keys of the text signature (none without text)."""
        if self.signature is None:
            return []
        if self.cached_bands is None:
            self.cached_bands = band_keys(self.signature)
        return self.cached_bands

    def _short_with_media(self) -> bool:
        return self.signature is not None and self.words < SHORT_TEXT_WORDS and self.has_media()

    def has_media(self) -> bool:
        """Whether the item carries a media digest or PDQ hash."""
        return bool(self.sha256 or self.pdq)

    def stored_keys(self, bands: list[int] | None = None) -> list[int]:
        """The keys this item is stored under in the candidate index: text bands and
        media digests (PDQ hashes are searched by distance, `pdq_store`). The bands of a
        short text beside media carry their own tag (`_TAG_SHORT_MEDIA`): such a text
        can only match an item without media (`matches`), so only short texts without
        media look those keys up, and the short captions of floods of images ("look at
        this") stop being candidates of every image that has one."""
        keys = list(bands if bands is not None else self.bands())
        if self._short_with_media():
            keys = [_TAG_SHORT_MEDIA | (k & _LOW56) for k in keys]
        keys.extend(sha256_key(d) for d in self.sha256)
        return keys

    def query_keys(self, bands: list[int] | None = None) -> list[int]:
        """The keys that find this item's candidates in the candidate index: its text
        bands (a short text without media also under `_TAG_SHORT_MEDIA`: it may match
        a short caption of an image) and media digests."""
        keys = list(bands if bands is not None else self.bands())
        if self.signature is not None and self.words < SHORT_TEXT_WORDS and not self.has_media():
            keys += [_TAG_SHORT_MEDIA | (k & _LOW56) for k in keys]
        keys.extend(sha256_key(d) for d in self.sha256)
        return keys

    def rows(self) -> list[tuple[str, str]]:
        """`(kind, value)` rows of `item_fingerprint`."""
        rows = []
        if self.signature is not None:
            hexed = self.cached_hex or signature_hex(self.signature)
            rows.append(("text_minhash", f"{self.words}:{hexed}"))
        rows.extend(("sha256", d) for d in self.sha256)
        rows.extend(("pdq", p) for p in self.pdq)
        if self.media_pending:
            rows.append(("media_pending", "1"))
        return rows

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[str, str]]) -> Fingerprints:
        """Rebuild from `item_fingerprint` rows (other kinds ignored)."""
        found = cls()
        for kind, value in rows:
            found.add_row(kind, value)
        return found

    def add_row(self, kind: str, value: str) -> None:
        """Take in one `item_fingerprint` row (other kinds ignored)."""
        if kind == "text_minhash":
            words, _, hexed = value.partition(":")
            self.signature = signature_from_hex(hexed)
            self.words = int(words)
        elif kind == "sha256":
            self.sha256.append(value)
        elif kind == "pdq":
            self.pdq.append(value)

    def matches(self, other: Fingerprints, *, text_jaccard: float, pdq_max: int) -> bool:
        """Whether two items are copies: a shared media digest, PDQ hashes within
        `pdq_max`, or texts whose estimated Jaccard is at least `text_jaccard`. Short
        texts need identical signatures, and never match when both items carry images
        that differ (the same "look at this" under two pictures is no copy)."""
        if self.sha256 and other.sha256 and not set(self.sha256).isdisjoint(other.sha256):
            return True
        if (
            self.pdq
            and other.pdq
            and any(pdq_distance(a, b) <= pdq_max for a in self.pdq for b in other.pdq)
        ):
            return True
        if self.signature is None or other.signature is None:
            return False
        similarity = estimated_jaccard(self.signature, other.signature)
        if min(self.words, other.words) < SHORT_TEXT_WORDS:
            # (`stored_keys` and `query_keys` rely on this rule.)
            return similarity == 1.0 and not (self.has_media() and other.has_media())
        return similarity >= text_jaccard


def needs_fetch(entry: dict[str, Any]) -> bool:
    """Whether a media entry is an image still waiting for its hashes (no `sha256`, no
    `pdq`, no final `fetch_error`)."""
    return (
        str(entry.get("kind", "")).lower() == "image"
        and bool(entry.get("url"))
        and not entry.get("sha256")
        and not entry.get("pdq")
        and not entry.get("fetch_error")
    )


def _media_prints(found: Fingerprints, media: Sequence[dict[str, Any]]) -> Fingerprints:
    for entry in media:
        found.media_pending = found.media_pending or needs_fetch(entry)
        digest = entry.get("sha256")
        if isinstance(digest, str) and is_hex64(digest) and digest not in found.sha256:
            found.sha256.append(digest)
        pdq = entry.get("pdq")
        if isinstance(pdq, str) and is_hex64(pdq) and pdq not in found.pdq:
            found.pdq.append(pdq)
    return found


def fingerprints_of(text: str | None, media: Sequence[dict[str, Any]]) -> Fingerprints:
    """The fingerprints of an item's text and of the hashes in its media entries."""
    return fingerprints_many([(text, media)])[0]


def fingerprints_many(
    contents: Sequence[tuple[str | None, Sequence[dict[str, Any]]]],
    *,
    known_words: Sequence[list[str] | None] | None = None,
) -> list[Fingerprints]:
    """`fingerprints_of` each `(text, media)`, the text signatures, their band keys and
    hex forms computed for all of them at once (`text_signatures`). `known_words`: each
    text's `normalise_text` where the caller computed it already (None where not)."""
    owners, signatures = _signed([text for text, _ in contents], known_words)
    found = [_media_prints(Fingerprints(), media) for _, media in contents]
    if owners:
        bands = _band_keys_many(signatures)
        hexed = signatures.astype(">u4").tobytes().hex()
        width = NUM_PERM * 8
        for row, (position, words) in enumerate(owners):
            prints = found[position]
            prints.signature, prints.words = signatures[row], words
            prints.cached_bands = bands[row]
            prints.cached_hex = hexed[row * width : (row + 1) * width]
    return found
