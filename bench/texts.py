"""Item texts of their own for the benchmarks.

Synthetic texts that differ only in a number are near-duplicates: ingest puts them in one
cluster and, past `[floods] fingerprint` copies, folds them into one incident, so nothing
is left to claim, push or deliver. Benchmarks that measure something else give every item
words of its own."""

from __future__ import annotations

import hashlib

__all__ = ["distinct_text"]


def distinct_text(n: int, rest: str = "") -> str:
    """Eight words drawn from a digest of `n` (no two items alike), then `rest`."""
    digest = hashlib.sha256(str(n).encode()).hexdigest()
    words = " ".join(f"w{digest[i : i + 5]}" for i in range(0, 40, 5))
    return f"{words} {rest}" if rest else words
