"""Fingerprints of an item's content and the candidate keys copies share.

- Text: the words `normalise_text` keeps (case, digits, contacts, URLs and punctuation
  gone, as in the export), joined by single spaces and cut into character 5-grams; the
  MinHash of that set (`datasketch`, 128 permutations, seed 1) estimates the Jaccard
  similarity of two texts. Its LSH band keys (bands and rows chosen by datasketch's
  optimal-parameter helper for `LSH_THRESHOLD`, weighted towards recall) find the
  candidates; the estimated Jaccard then decides.
- Media: a SHA-256 digest (exact copies) and, for images, a PDQ hash (64 hex digits);
  two PDQ hashes match within a Hamming distance. PDQ candidates come from 16 chunks of
  16 bits: two hashes within distance 31 differ in at most one bit in at least one chunk
  (pigeonhole: 16 chunks with 2 or more differing bits each make 32), so a lookup asks
  for each chunk and its 16 one-bit neighbours (`pdq_query_keys`).

Every key is a 63-bit integer: a kind tag in the top bits, the kind's value below.
"""

from __future__ import annotations

import hashlib
import re
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
    "fingerprints_of",
    "is_hex64",
    "needs_fetch",
    "pdq_distance",
    "pdq_exact_keys",
    "pdq_query_keys",
    "sha256_key",
    "signature_from_hex",
    "signature_hex",
    "text_signature",
]

NUM_PERM = 128
"""MinHash permutations (the bank format's `num_perm`)."""
SEED = 1
"""MinHash seed (the bank format's `seed`)."""
LSH_THRESHOLD = 0.6
"""Jaccard similarity the candidate search is tuned for (below any guideline's default)."""
BANDS, ROWS = _optimal_param(LSH_THRESHOLD, NUM_PERM, 0.2, 0.8)
SHINGLE = 5
"""Characters per text shingle."""
SHORT_TEXT_WORDS = 5
"""Texts with fewer normalised words match only when their signatures are identical."""
PDQ_CHUNKS = 16
"""16-bit chunks of a PDQ hash in the candidate index."""

_TAG_BAND = 1 << 56
_TAG_PDQ = 2 << 56
_TAG_SHA = 3 << 56
_LOW56 = (1 << 56) - 1
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_MODEL = MinHash(num_perm=NUM_PERM, seed=SEED)
_PERMUTATIONS = _MODEL.permutations
_SCHEME = _MODEL.scheme


def is_hex64(value: str) -> bool:
    """Whether `value` is 64 lower-case hex digits (a SHA-256 or a PDQ hash)."""
    return bool(_HEX64.fullmatch(value))


def text_signature(text: str | None) -> tuple[Signature, int] | None:
    """The MinHash signature of `text` (uint32 values) and its normalised word count, or
    `None` when no words are left."""
    if not text:
        return None
    words = normalise_text(text)
    if not words:
        return None
    joined = " ".join(words)
    if len(joined) <= SHINGLE:
        shingles = {joined}
    else:
        shingles = {joined[i : i + SHINGLE] for i in range(len(joined) - SHINGLE + 1)}
    minhash = MinHash(num_perm=NUM_PERM, seed=SEED, permutations=_PERMUTATIONS, scheme=_SCHEME)
    minhash.update_batch([s.encode() for s in sorted(shingles)])
    signature: Signature = np.asarray(minhash.hashvalues, dtype=np.uint32)
    return signature, len(words)


def signature_hex(signature: Signature) -> str:
    """A signature as 1,024 hex digits (128 big-endian 32-bit values)."""
    return signature.astype(">u4").tobytes().hex()


def signature_from_hex(value: str) -> Signature:
    """The signature `signature_hex` wrote."""
    signature: Signature = np.frombuffer(bytes.fromhex(value), dtype=">u4").astype(np.uint32)
    return signature


def estimated_jaccard(a: Signature, b: Signature) -> float:
    """The Jaccard similarity two signatures estimate (share of equal values)."""
    return float(np.count_nonzero(a == b)) / len(a)


def band_keys(signature: Signature) -> list[int]:
    """The LSH band keys of a signature (`BANDS` of `ROWS` values each)."""
    raw = signature.astype(">u4").tobytes()
    keys = []
    for band in range(BANDS):
        chunk = raw[band * ROWS * 4 : (band + 1) * ROWS * 4]
        digest = hashlib.blake2b(f"{BANDS}x{ROWS}:{band}:".encode() + chunk, digest_size=7).digest()
        keys.append(_TAG_BAND | int.from_bytes(digest, "big"))
    return keys


def sha256_key(digest: str) -> int:
    """The candidate key of a SHA-256 digest (hex)."""
    return _TAG_SHA | (int(digest[:14], 16) & _LOW56)


def _chunks(pdq: str) -> list[int]:
    return [int(pdq[i * 4 : i * 4 + 4], 16) for i in range(PDQ_CHUNKS)]


def pdq_exact_keys(pdq: str) -> list[int]:
    """The 16 chunk keys a PDQ hash is stored under."""
    return [_TAG_PDQ | (i << 16) | v for i, v in enumerate(_chunks(pdq))]


def pdq_query_keys(pdq: str) -> list[int]:
    """The 272 keys that find every stored PDQ hash within distance 31 of `pdq`: each
    chunk and its 16 one-bit neighbours."""
    keys = []
    for i, v in enumerate(_chunks(pdq)):
        base = _TAG_PDQ | (i << 16)
        keys.append(base | v)
        keys.extend(base | (v ^ (1 << bit)) for bit in range(16))
    return keys


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

    def stored_keys(self) -> list[int]:
        """The keys this item is stored under in the candidate index."""
        keys = band_keys(self.signature) if self.signature is not None else []
        keys.extend(sha256_key(d) for d in self.sha256)
        for pdq in self.pdq:
            keys.extend(pdq_exact_keys(pdq))
        return keys

    def query_keys(self) -> list[int]:
        """The keys that find this item's candidates."""
        keys = band_keys(self.signature) if self.signature is not None else []
        keys.extend(sha256_key(d) for d in self.sha256)
        for pdq in self.pdq:
            keys.extend(pdq_query_keys(pdq))
        return keys

    def rows(self) -> list[tuple[str, str]]:
        """`(kind, value)` rows of `item_fingerprint`."""
        rows = []
        if self.signature is not None:
            rows.append(("text_minhash", f"{self.words}:{signature_hex(self.signature)}"))
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
            if kind == "text_minhash":
                words, _, hexed = value.partition(":")
                found.signature = signature_from_hex(hexed)
                found.words = int(words)
            elif kind == "sha256":
                found.sha256.append(value)
            elif kind == "pdq":
                found.pdq.append(value)
        return found

    def matches(self, other: Fingerprints, *, text_jaccard: float, pdq_max: int) -> bool:
        """Whether two items are copies: a shared media digest, PDQ hashes within
        `pdq_max`, or texts whose estimated Jaccard is at least `text_jaccard` (identical
        signatures for short texts)."""
        if set(self.sha256) & set(other.sha256):
            return True
        if any(pdq_distance(a, b) <= pdq_max for a in self.pdq for b in other.pdq):
            return True
        if self.signature is None or other.signature is None:
            return False
        similarity = estimated_jaccard(self.signature, other.signature)
        if min(self.words, other.words) < SHORT_TEXT_WORDS:
            return similarity == 1.0
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


def fingerprints_of(text: str | None, media: Sequence[dict[str, Any]]) -> Fingerprints:
    """The fingerprints of an item's text and of the hashes in its media entries."""
    found = Fingerprints()
    signed = text_signature(text)
    if signed is not None:
        found.signature, found.words = signed
    for entry in media:
        found.media_pending = found.media_pending or needs_fetch(entry)
        digest = entry.get("sha256")
        if isinstance(digest, str) and is_hex64(digest) and digest not in found.sha256:
            found.sha256.append(digest)
        pdq = entry.get("pdq")
        if isinstance(pdq, str) and is_hex64(pdq) and pdq not in found.pdq:
            found.pdq.append(pdq)
    return found
