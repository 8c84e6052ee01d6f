"""`modqueue report referrals`: what became of the items each source referred.

Per source and policy: items referred; removed (the platform confirmed the action done);
declined by the platform; decided to leave up; still in the queue; awaiting the platform
(action sent, no outcome yet); not sent yet (queued or failed delivery); and the median
and 90th percentile time from flag to the platform's confirmation. Every figure is one
SQL aggregation (GROUP BY); `--list` gives the item ids behind every number.

An item's outcome is read from its latest standing (active, not escalating) decision and
its latest outbound action that is not a reversal and was not cancelled. Percentiles are
nearest-rank: the smallest time at or above that share of the items.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from modqueue.queue import Permission, authorize_actor
from modqueue.reports._sql import (
    LAST_DECISION_AND_ACTION,
    bounds_clause,
    percentiles_sql,
    query,
    seconds_between,
)

__all__ = ["OUTCOMES", "ReferralFilter", "referral_report"]

OUTCOMES = (
    "removed",
    "declined",
    "left_up",
    "in_queue",
    "awaiting_platform",
    "not_sent",
)
"""The mutually exclusive outcomes of a referred item; they add up to `referred`."""


@dataclass(frozen=True, slots=True)
class ReferralFilter:
    """Which items count: `source` (default: every trusted-flagger source) flagged in
    `[since, until)` (flag time, or ingest time when the source gave none)."""

    source: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def params(self) -> dict[str, Any]:
        """The bound parameters of the filter."""
        values: dict[str, Any] = {"source": self.source, "since": self.since, "until": self.until}
        return {k: v for k, v in values.items() if v is not None}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "source": self.source,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
        }


def _referred_cte(session: Session, where: ReferralFilter) -> str:
    flagged = "COALESCE(i.flagged_at, i.ingested_at)"
    source = "i.source = :source" if where.source else "i.trusted_flagger IS NOT NULL"
    seconds = seconds_between(session, "a.updated_at", flagged)
    return f"""
WITH {LAST_DECISION_AND_ACTION}, referred AS (
    SELECT i.id AS item_id, i.source AS source, COALESCE(i.policy, 'triage') AS policy,
        i.trusted_flagger AS trusted_flagger,
        CASE
            WHEN i.status <> 'decided' THEN 'in_queue'
            WHEN d.action IS NULL OR d.action = 'none' THEN 'left_up'
            WHEN a.status = 'done' THEN 'removed'
            WHEN a.status = 'declined' THEN 'declined'
            WHEN a.status = 'sent' THEN 'awaiting_platform'
            ELSE 'not_sent'
        END AS outcome,
        CASE WHEN i.status = 'decided' AND d.action <> 'none' AND a.status = 'done'
            THEN {seconds} END AS seconds
    FROM item i
    LEFT JOIN last_decision ld ON ld.item_id = i.id
    LEFT JOIN decision d ON d.id = ld.id
    LEFT JOIN last_action la ON la.item_id = i.id
    LEFT JOIN outbound_action a ON a.id = la.id
    WHERE {source} {bounds_clause(flagged, where.since, where.until)}
)"""


def _hours(seconds: Any) -> float | None:
    return None if seconds is None else round(float(seconds) / 3600.0, 3)


def referral_report(
    session: Session,
    *,
    actor: str | None,
    now: datetime,
    where: ReferralFilter | None = None,
    with_items: bool = False,
) -> dict[str, Any]:
    """The referral report (see the module docstring): `rows` per source and policy,
    `totals`, and with `with_items` the item ids behind every figure (`items`, keyed
    `source/policy` then outcome). Needs `view_reports` (leads and admins)."""
    authorize_actor(
        session, actor=actor, permission=Permission.VIEW_REPORTS, doing="report referrals", now=now
    )
    where = where or ReferralFilter()
    cte = _referred_cte(session, where)
    params = where.params()
    counts = ", ".join(
        f"SUM(CASE WHEN outcome = '{name}' THEN 1 ELSE 0 END) AS {name}" for name in OUTCOMES
    )
    grouped = session.execute(
        query(
            f"""{cte}
SELECT source, policy, MAX(trusted_flagger) AS trusted_flagger, COUNT(*) AS referred, {counts}
FROM referred GROUP BY source, policy ORDER BY source, policy""",
            params,
        ),
        params,
    ).mappings()
    rows: list[dict[str, Any]] = []
    for row in grouped:
        entry = {k: row[k] for k in ("source", "policy", "trusted_flagger")}
        entry["referred"] = int(row["referred"])
        entry.update({name: int(row[name] or 0) for name in OUTCOMES})
        rows.append(entry)
    times = {
        (r["source"], r["policy"]): (r["p50"], r["p90"])
        for r in session.execute(
            query(cte + percentiles_sql(session, "referred", "source, policy"), params), params
        ).mappings()
    }
    for entry in rows:
        p50, p90 = times.get((entry["source"], entry["policy"]), (None, None))
        entry["median_hours_to_removal"] = _hours(p50)
        entry["p90_hours_to_removal"] = _hours(p90)
    overall_sql = cte + percentiles_sql(session, "referred", None)
    overall = session.execute(query(overall_sql, params), params).mappings().first()
    totals: dict[str, Any] = {key: sum(r[key] for r in rows) for key in ("referred", *OUTCOMES)}
    totals["median_hours_to_removal"] = _hours(overall["p50"]) if overall else None
    totals["p90_hours_to_removal"] = _hours(overall["p90"]) if overall else None
    report: dict[str, Any] = {
        "filter": where.to_dict(),
        "outcomes": list(OUTCOMES),
        "rows": rows,
        "totals": totals,
    }
    if with_items:
        items: dict[str, dict[str, list[int]]] = {}
        for source, policy, outcome, item_id in session.execute(
            query(
                f"{cte} SELECT source, policy, outcome, item_id FROM referred "
                "ORDER BY source, policy, outcome, item_id",
                params,
            ),
            params,
        ):
            items.setdefault(f"{source}/{policy}", {}).setdefault(outcome, []).append(int(item_id))
        report["items"] = items
    return report
