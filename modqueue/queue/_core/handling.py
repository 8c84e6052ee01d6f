"""Handling-time buckets: the ordered ranges of `decision.seconds_spent` that
`decision_handling` counts decisions in, and that `ix_decision_handling` orders them by.

A bucket is a whole number, non-decreasing in the seconds: 0 below one second, one
bucket per second up to a minute, per 5 seconds up to 5 minutes, per 30 seconds up to 30
minutes, per 5 minutes up to an hour, and one bucket (164) for an hour and more (and
anything that compares with no number, as NaN). Only the order matters for the
dashboard's median, which is exact whatever the bounds: the counts tell which bucket the
middle decision lies in and only that bucket's decisions are read; the bounds keep a
bucket a small share of a busy window's decisions for the times people take.

The expression is SQL text, the same in the triggers, the index and the reads (an
expression index is used only for the same expression), per dialect: PostgreSQL truncates
with `trunc` (a cast to integer would round), SQLite with `CAST(... AS INTEGER)`.
"""

from __future__ import annotations

__all__ = ["HANDLING_BUCKETS", "handling_bucket", "handling_bucket_sql"]

HANDLING_BUCKETS = 165
"""Buckets 0 to 164."""

# (below, first bucket of the range, seconds per bucket) for the ranges after [0, 1).
_RANGES = ((60, 0, 1), (300, 48, 5), (1800, 98, 30), (3600, 152, 300))


def handling_bucket_sql(dialect: str, seconds: str = "seconds_spent") -> str:
    """SQL for the handling-time bucket of the column `seconds` (see the module)."""

    def whole(value: str) -> str:
        if dialect == "postgresql":
            return f"CAST(trunc({value}) AS integer)"
        return f"CAST({value} AS INTEGER)"

    parts = [f"WHEN {seconds} < 1 THEN 0"]
    for below, base, width in _RANGES:
        scaled = seconds if width == 1 else f"{seconds} / {width}.0"
        offset = f"{base} + " if base else ""
        parts.append(f"WHEN {seconds} < {below} THEN {offset}{whole(scaled)}")
    return f"(CASE {' '.join(parts)} ELSE {HANDLING_BUCKETS - 1} END)"


def handling_bucket(seconds: float) -> int:
    """The bucket of `seconds` as the SQL computes it (for tests and checks)."""
    if not seconds >= 1:
        return 0 if seconds < 1 else HANDLING_BUCKETS - 1
    for below, base, width in _RANGES:
        if seconds < below:
            return base + int(seconds / width if width != 1 else seconds)
    return HANDLING_BUCKETS - 1
