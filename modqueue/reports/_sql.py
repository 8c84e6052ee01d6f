"""What the report queries share: the dialect's seconds between two timestamps, the
nearest-rank percentile over window functions, and typed date bounds."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import TextClause, bindparam, text
from sqlmodel import Session

from modqueue.queue import UTCDateTime

__all__ = [
    "LAST_DECISION_AND_ACTION",
    "bounds_clause",
    "dialect",
    "percentiles_sql",
    "query",
    "seconds_between",
]

LAST_DECISION_AND_ACTION = """last_decision AS (
    SELECT item_id, MAX(id) AS id FROM decision
    WHERE status = 'active' AND action <> 'escalate'
    GROUP BY item_id
), last_action AS (
    SELECT item_id, MAX(id) AS id FROM outbound_action
    WHERE reverses_id IS NULL AND status <> 'cancelled'
        AND action NOT IN ('notify_ack', 'notify_outcome')
    GROUP BY item_id
)"""
"""Common table expressions of each item's last active, non-escalating decision and its
last outbound action that is neither cancelled, a reversal nor a notice (what the
statements of reasons and the referral report both start from)."""


def dialect(session: Session) -> str:
    """`postgresql` or `sqlite`."""
    return session.get_bind().dialect.name


def seconds_between(session: Session, later: str, earlier: str) -> str:
    """SQL for the seconds from `earlier` to `later` (two timestamp expressions)."""
    if dialect(session) == "postgresql":
        return f"EXTRACT(EPOCH FROM ({later} - {earlier}))"
    return f"((julianday({later}) - julianday({earlier})) * 86400.0)"


def bounds_clause(column: str, since: datetime | None, until: datetime | None) -> str:
    """`AND column >= :since AND column < :until` for the bounds that are given."""
    parts = []
    if since is not None:
        parts.append(f"AND {column} >= :since")
    if until is not None:
        parts.append(f"AND {column} < :until")
    return " ".join(parts)


def query(sql: str, params: dict[str, Any]) -> TextClause:
    """`text(sql)` with `since`, `until` and `cutoff` bound as stored timestamps (aware
    UTC in)."""
    clause = text(sql)
    typed = [
        bindparam(k, type_=UTCDateTime())
        for k in ("since", "until", "cutoff")
        if k in params and f":{k}" in sql
    ]
    return clause.bindparams(*typed) if typed else clause


def percentiles_sql(session: Session, source: str, partition: str | None) -> str:
    """SQL for the nearest-rank median and 90th percentile of `seconds` in the CTE
    `source`, with the row count, grouped by the columns `partition` (None: overall):
    columns `[partition,] n, p50, p90`. PostgreSQL's `percentile_disc` is exactly the
    nearest rank; SQLite, which has none, ranks the rows with window functions."""
    cols = f"{partition}, " if partition else ""
    group = f"GROUP BY {partition}" if partition else ""
    if dialect(session) == "postgresql":
        return f"""
SELECT {cols}COUNT(*) AS n,
    percentile_disc(0.5) WITHIN GROUP (ORDER BY seconds) AS p50,
    percentile_disc(0.9) WITHIN GROUP (ORDER BY seconds) AS p90
FROM {source} WHERE seconds IS NOT NULL {group}"""
    keys = f"PARTITION BY {partition}" if partition else ""
    return f"""
, ranked AS (
    SELECT {cols}seconds, ROW_NUMBER() OVER ({keys} ORDER BY seconds) AS rn,
        COUNT(*) OVER ({keys}) AS n
    FROM {source} WHERE seconds IS NOT NULL
)
SELECT {cols}MAX(n) AS n, MIN(CASE WHEN rn >= 0.5 * n THEN seconds END) AS p50,
    MIN(CASE WHEN rn >= 0.9 * n THEN seconds END) AS p90
FROM ranked {group}"""
