"""The transparency report's figures (EU DSA Art. 15 and 24; comparable to what Ofcom
asks under the UK Online Safety Act), computed by SQL aggregation for one period.

`transparency_data()` is the one data builder: `report.json` is its output as is, and
`report.md` and `report.html` are drawn from it (`modqueue.reports._render`).

What counts in the period `[start, end)`:
- notices: items flagged in it (flag time, or ingest time when the source gave none);
- decisions: decisions made in it that stand or were superseded (not undone), escalations
  left out; automated = origin `propagated` or `bank`;
- time to decision: from flag to the item's standing decision, for items flagged in it;
  time to action: from flag to the platform confirming the action done;
- actions: outbound actions created in it, by action and current state;
- appeals: opened in it; overturned and upheld as decided so far;
- second review: blind second reviews made in it, agreeing or not with the primary label;
- deadline breaches: items flagged in it first decided after their deadline, or still
  undecided with the deadline passed at the report's cut-off (the period's end, or now if
  earlier).
Percentiles are nearest-rank.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session

from modqueue.queue import Permission, authorize_actor
from modqueue.reports._period import Period
from modqueue.reports._sql import percentiles_sql, query, seconds_between
from modqueue.reports._statements import AUTOMATED_ORIGINS

__all__ = ["REPORT_VERSION", "transparency_data"]

REPORT_VERSION = 1
_FLAGGED = "COALESCE(i.flagged_at, i.ingested_at)"
_IN_PERIOD = f"{_FLAGGED} >= :since AND {_FLAGGED} < :until"
_AUTOMATED = ", ".join(f"'{o}'" for o in sorted(AUTOMATED_ORIGINS))


def _rows(session: Session, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    return [dict(r) for r in session.execute(query(sql, params), params).mappings()]


def _hours(seconds: Any) -> float | None:
    return None if seconds is None else round(float(seconds) / 3600.0, 3)


def _timing(session: Session, durations: str, params: dict[str, Any]) -> dict[str, Any]:
    by_policy = {
        r["policy"]: {
            "count": int(r["n"]),
            "median_hours": _hours(r["p50"]),
            "p90_hours": _hours(r["p90"]),
        }
        for r in _rows(
            session,
            durations + percentiles_sql(session, "durations", "policy") + " ORDER BY policy",
            params,
        )
    }
    overall = _rows(session, durations + percentiles_sql(session, "durations", None), params)
    first = overall[0] if overall else {}
    return {
        "count": int(first.get("n") or 0),
        "median_hours": _hours(first.get("p50")),
        "p90_hours": _hours(first.get("p90")),
        "by_policy": by_policy,
    }


def _decision_durations(session: Session) -> str:
    seconds = seconds_between(session, "d.decided_at", _FLAGGED)
    return f"""WITH standing AS (
    SELECT item_id, MAX(id) AS id FROM decision
    WHERE status = 'active' AND action <> 'escalate' GROUP BY item_id
), durations AS (
    SELECT COALESCE(i.policy, 'triage') AS policy, {seconds} AS seconds
    FROM item i JOIN standing s ON s.item_id = i.id JOIN decision d ON d.id = s.id
    WHERE i.status = 'decided' AND {_IN_PERIOD}
)"""


def _action_durations(session: Session) -> str:
    seconds = seconds_between(session, "a.updated_at", _FLAGGED)
    return f"""WITH first_done AS (
    SELECT item_id, MIN(id) AS id FROM outbound_action
    WHERE status = 'done' AND reverses_id IS NULL
        AND action NOT IN ('notify_ack', 'notify_outcome')
    GROUP BY item_id
), durations AS (
    SELECT COALESCE(i.policy, 'triage') AS policy, {seconds} AS seconds
    FROM item i JOIN first_done f ON f.item_id = i.id JOIN outbound_action a ON a.id = f.id
    WHERE {_IN_PERIOD}
)"""


def _notices(session: Session, params: dict[str, Any]) -> dict[str, Any]:
    rows = _rows(
        session,
        f"""SELECT i.notice_type AS source_type, COALESCE(i.policy, 'triage') AS policy,
    COUNT(*) AS items
FROM item i WHERE {_IN_PERIOD}
GROUP BY i.notice_type, COALESCE(i.policy, 'triage') ORDER BY source_type, policy""",
        params,
    )
    flaggers = _rows(
        session,
        f"""SELECT i.trusted_flagger AS organisation, COUNT(*) AS items
FROM item i WHERE i.trusted_flagger IS NOT NULL AND {_IN_PERIOD}
GROUP BY i.trusted_flagger ORDER BY organisation""",
        params,
    )
    totals: dict[str, int] = {}
    for r in rows:
        totals[r["source_type"]] = totals.get(r["source_type"], 0) + int(r["items"])
    return {
        "rows": [{**r, "items": int(r["items"])} for r in rows],
        "by_source_type": totals,
        "trusted_flaggers": [{**r, "items": int(r["items"])} for r in flaggers],
        "total": sum(totals.values()),
    }


def _actions(session: Session, params: dict[str, Any]) -> dict[str, Any]:
    rows = _rows(
        session,
        """SELECT action, status, COUNT(*) AS actions FROM outbound_action
WHERE created_at >= :since AND created_at < :until
    AND action NOT IN ('notify_ack', 'notify_outcome')
GROUP BY action, status ORDER BY action, status""",
        params,
    )
    return {
        "rows": [{**r, "actions": int(r["actions"])} for r in rows],
        "total": sum(int(r["actions"]) for r in rows),
    }


def _decisions(session: Session, params: dict[str, Any]) -> dict[str, Any]:
    rows = _rows(
        session,
        f"""SELECT COALESCE(i.policy, 'triage') AS policy,
    SUM(CASE WHEN d.origin IN ({_AUTOMATED}) THEN 1 ELSE 0 END) AS automated,
    SUM(CASE WHEN d.origin IN ({_AUTOMATED}) THEN 0 ELSE 1 END) AS human
FROM decision d JOIN item i ON i.id = d.item_id
WHERE d.status <> 'undone' AND d.action <> 'escalate'
    AND d.decided_at >= :since AND d.decided_at < :until
GROUP BY COALESCE(i.policy, 'triage') ORDER BY policy""",
        params,
    )
    clean = [
        {"policy": r["policy"], "automated": int(r["automated"]), "human": int(r["human"])}
        for r in rows
    ]
    return {
        "rows": clean,
        "automated": sum(r["automated"] for r in clean),
        "human": sum(r["human"] for r in clean),
    }


def _appeals(session: Session, params: dict[str, Any]) -> dict[str, Any]:
    rows = _rows(
        session,
        """SELECT COALESCE(i.policy, 'triage') AS policy, COUNT(*) AS received,
    SUM(CASE WHEN a.status = 'overturned' THEN 1 ELSE 0 END) AS overturned,
    SUM(CASE WHEN a.status = 'upheld' THEN 1 ELSE 0 END) AS upheld,
    SUM(CASE WHEN a.status = 'open' THEN 1 ELSE 0 END) AS still_open
FROM appeal a JOIN item i ON i.id = a.item_id
WHERE a.opened_at >= :since AND a.opened_at < :until
GROUP BY COALESCE(i.policy, 'triage') ORDER BY policy""",
        params,
    )
    keys = ("received", "overturned", "upheld", "still_open")
    clean = [{"policy": r["policy"], **{k: int(r[k] or 0) for k in keys}} for r in rows]
    return {"rows": clean, **{k: sum(r[k] for r in clean) for k in keys}}


def _second_review(session: Session, params: dict[str, Any]) -> dict[str, Any]:
    rows = _rows(
        session,
        """WITH primary_label AS (
    SELECT item_id, MAX(id) AS id FROM decision
    WHERE kind = 'primary' AND status <> 'undone' AND action <> 'escalate'
    GROUP BY item_id
)
SELECT COALESCE(i.policy, 'triage') AS policy, COUNT(*) AS reviewed,
    SUM(CASE WHEN s.label = p.label THEN 1 ELSE 0 END) AS agreed
FROM decision s
JOIN primary_label pl ON pl.item_id = s.item_id
JOIN decision p ON p.id = pl.id
JOIN item i ON i.id = s.item_id
WHERE s.kind = 'second_review' AND s.status <> 'undone' AND s.action <> 'escalate'
    AND s.decided_at >= :since AND s.decided_at < :until
GROUP BY COALESCE(i.policy, 'triage') ORDER BY policy""",
        params,
    )
    clean = []
    for r in rows:
        reviewed, agreed = int(r["reviewed"]), int(r["agreed"] or 0)
        clean.append(
            {
                "policy": r["policy"],
                "reviewed": reviewed,
                "agreed": agreed,
                "agreement": round(agreed / reviewed, 4) if reviewed else None,
            }
        )
    reviewed = sum(r["reviewed"] for r in clean)
    agreed = sum(r["agreed"] for r in clean)
    return {
        "rows": clean,
        "reviewed": reviewed,
        "agreed": agreed,
        "agreement": round(agreed / reviewed, 4) if reviewed else None,
    }


def _breaches(session: Session, params: dict[str, Any]) -> dict[str, Any]:
    # An item's first decision settles its deadline; a later appeal or senior decision
    # does not make it late after the fact.
    rows = _rows(
        session,
        f"""WITH first_decision AS (
    SELECT item_id, MIN(decided_at) AS at FROM decision
    WHERE status <> 'undone' AND action <> 'escalate' GROUP BY item_id
)
SELECT COALESCE(i.policy, 'triage') AS policy, COUNT(*) AS items,
    SUM(CASE WHEN (f.at IS NOT NULL AND f.at > i.deadline_at)
        OR (f.at IS NULL AND i.deadline_at < :cutoff) THEN 1 ELSE 0 END) AS breached
FROM item i LEFT JOIN first_decision f ON f.item_id = i.id
WHERE {_IN_PERIOD}
GROUP BY COALESCE(i.policy, 'triage') ORDER BY policy""",
        params,
    )
    clean = [
        {"policy": r["policy"], "items": int(r["items"]), "breached": int(r["breached"] or 0)}
        for r in rows
    ]
    return {
        "rows": clean,
        "items": sum(r["items"] for r in clean),
        "breached": sum(r["breached"] for r in clean),
    }


def transparency_data(
    session: Session, *, actor: str | None, now: datetime, period: Period
) -> dict[str, Any]:
    """Every figure of the transparency report for `period` (see the module docstring),
    JSON-ready. Needs `view_reports` (leads and admins)."""
    authorize_actor(
        session,
        actor=actor,
        permission=Permission.VIEW_REPORTS,
        doing="write a transparency report",
        now=now,
    )
    cutoff = min(now, period.end)
    params: dict[str, Any] = {"since": period.start, "until": period.end, "cutoff": cutoff}
    return {
        "report_version": REPORT_VERSION,
        "period": {
            "name": period.name,
            "start": period.start.isoformat(),
            "end": period.end.isoformat(),
            "cutoff": cutoff.isoformat(),
        },
        "notices": _notices(session, params),
        "actions": _actions(session, params),
        "time_to_decision": _timing(session, _decision_durations(session), params),
        "time_to_action": _timing(session, _action_durations(session), params),
        "decisions": _decisions(session, params),
        "appeals": _appeals(session, params),
        "second_review": _second_review(session, params),
        "deadline_breaches": _breaches(session, params),
    }
