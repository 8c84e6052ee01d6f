"""`modqueue report statements`: one statement of reasons (EU DSA Art. 17) per
restrictive decision, shaped like a submission to the DSA Transparency Database's
statement API (`POST /api/v1/statement`), one JSON object per line.

A restrictive decision is an item's standing decision (its latest active one that does
not escalate) whose action restricts: `remove`, `remove_and_ban`, `restrict` or
`refer_law_enforcement`. `docs/reports.md` maps every field of the API to its source in
modqueue and names those modqueue has no source for (left out, never invented).

Statements carry no personal data: nothing of the reporter, the reviewer (name or note),
the author, or the item's text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, String
from sqlalchemy.types import TypeEngine
from sqlmodel import Session

from modqueue.guidelines import GuidelineSet
from modqueue.queue import NoticeType, Permission, UTCDateTime, authorize_actor
from modqueue.reports._grounds import ReportsConfig
from modqueue.reports._sql import LAST_DECISION_AND_ACTION, bounds_clause, query

__all__ = [
    "AUTOMATED_ORIGINS",
    "RESTRICTIVE_ACTIONS",
    "iter_statements",
    "puid_of",
    "statement_of",
]

RESTRICTIVE_ACTIONS = ("remove", "remove_and_ban", "restrict", "refer_law_enforcement")
AUTOMATED_ORIGINS = frozenset({"propagated", "bank"})
"""Decision origins made by no person: propagated over a cluster, or matched against the
known-content bank."""

_VISIBILITY = {
    "remove": "DECISION_VISIBILITY_CONTENT_REMOVED",
    "remove_and_ban": "DECISION_VISIBILITY_CONTENT_REMOVED",
    "refer_law_enforcement": "DECISION_VISIBILITY_CONTENT_REMOVED",
    "restrict": "DECISION_VISIBILITY_CONTENT_DEMOTED",
}
_ACCOUNT = {
    "remove_and_ban": "DECISION_ACCOUNT_TERMINATED",
    "refer_law_enforcement": "DECISION_ACCOUNT_TERMINATED",
}
_SOURCE_TYPE = {
    NoticeType.TRUSTED_FLAGGER.value: "SOURCE_TRUSTED_FLAGGER",
    NoticeType.NOTICE.value: "SOURCE_ARTICLE_16",
    NoticeType.OWN_INITIATIVE.value: "SOURCE_VOLUNTARY",
}
_MEDIA = {
    "image": "CONTENT_TYPE_IMAGE",
    "video": "CONTENT_TYPE_VIDEO",
    "audio": "CONTENT_TYPE_AUDIO",
}
_PUID_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def _sql(where: str) -> str:
    actions = ", ".join(f"'{a}'" for a in RESTRICTIVE_ACTIONS)
    return f"""
WITH {LAST_DECISION_AND_ACTION}
SELECT d.id AS decision_id, d.label AS label, d.action AS action,
    d.guideline_id AS guideline_id, d.guideline_version AS guideline_version,
    d.origin AS origin, d.decided_at AS decided_at,
    i.id AS item_id, i.source AS source, i.external_id AS external_id,
    CASE WHEN i.text IS NOT NULL AND i.text <> '' THEN 1 ELSE 0 END AS has_text,
    CASE WHEN i.url IS NOT NULL THEN 1 ELSE 0 END AS has_url,
    i.media AS media, i.notice_type AS notice_type, i.trusted_flagger AS trusted_flagger,
    COALESCE(i.flagged_at, i.ingested_at) AS flagged_at,
    a.status AS action_status, a.updated_at AS action_at
FROM last_decision ld
JOIN decision d ON d.id = ld.id
JOIN item i ON i.id = d.item_id
LEFT JOIN last_action la ON la.item_id = i.id
LEFT JOIN outbound_action a ON a.id = la.id
WHERE i.status = 'decided' AND d.action IN ({actions}) {where}
ORDER BY d.id"""


_TYPES: dict[str, TypeEngine[Any]] = {
    "decision_id": Integer(),
    "label": String(),
    "action": String(),
    "guideline_id": String(),
    "guideline_version": String(),
    "origin": String(),
    "decided_at": UTCDateTime(),
    "item_id": Integer(),
    "source": String(),
    "external_id": String(),
    "has_text": Integer(),
    "has_url": Integer(),
    "media": JSON(),
    "notice_type": String(),
    "trusted_flagger": String(),
    "flagged_at": UTCDateTime(),
    "action_status": String(),
    "action_at": UTCDateTime(),
}


def _content_types(row: dict[str, Any]) -> tuple[list[str], str | None]:
    types: set[str] = set()
    other: list[str] = []
    if row["has_text"]:
        types.add("CONTENT_TYPE_TEXT")
    for media in row["media"] or []:
        kind = str(media.get("kind", "")).lower()
        if kind in _MEDIA:
            types.add(_MEDIA[kind])
        elif kind:
            other.append(kind)
    if not types and not other and row["has_url"]:
        other.append("linked content of unknown type")
    if other:
        types.add("CONTENT_TYPE_OTHER")
    return sorted(types), (", ".join(sorted(set(other))) if other else None)


def _label_title(guidelines: GuidelineSet, guideline_id: str, label: str) -> str:
    if guideline_id in guidelines:
        for known in guidelines.get(guideline_id).labels:
            if known.id == label:
                return known.title
    return label


def _guideline_title(guidelines: GuidelineSet, guideline_id: str) -> str:
    return guidelines.get(guideline_id).title if guideline_id in guidelines else guideline_id


def puid_of(source: str, external_id: str, decision_id: int) -> str:
    """The statement's platform unique identifier: source, external id and decision id,
    reduced to the characters the API accepts (`[A-Za-z0-9_-]`)."""
    safe = _PUID_UNSAFE.sub("-", external_id).strip("-") or "item"
    return f"{_PUID_UNSAFE.sub('-', source)}_{safe}_{decision_id}"[:500]


def statement_of(
    row: dict[str, Any], *, guidelines: GuidelineSet, config: ReportsConfig
) -> dict[str, Any]:
    """The statement of reasons of one restrictive decision row (see `_sql`)."""
    policy = row["guideline_id"]
    grounds = config.grounds(policy)
    facts = _label_title(guidelines, policy, row["label"])
    reference = (
        f"modqueue guideline {policy} version {row['guideline_version']}: "
        f"{_guideline_title(guidelines, policy)}"
    )
    content_types, content_other = _content_types(row)
    done = row["action_status"] == "done" and row["action_at"] is not None
    applied: datetime = row["action_at"] if done else row["decided_at"]
    statement: dict[str, Any] = {
        "decision_visibility": [_VISIBILITY[row["action"]]],
        "decision_ground": (
            "DECISION_GROUND_ILLEGAL_CONTENT"
            if grounds.ground == "illegal"
            else "DECISION_GROUND_INCOMPATIBLE_CONTENT"
        ),
        "category": config.category(policy),
        "content_type": content_types,
        "decision_facts": facts,
        "source_type": _SOURCE_TYPE.get(row["notice_type"], "SOURCE_VOLUNTARY"),
        "automated_detection": (
            "Yes" if row["notice_type"] == NoticeType.OWN_INITIATIVE.value else "No"
        ),
        "automated_decision": (
            "AUTOMATED_DECISION_FULLY"
            if row["origin"] in AUTOMATED_ORIGINS
            else "AUTOMATED_DECISION_NOT_AUTOMATED"
        ),
        "content_date": row["flagged_at"].date().isoformat(),
        "application_date": applied.date().isoformat(),
        "puid": puid_of(row["source"], row["external_id"], row["decision_id"]),
    }
    if row["action"] in _ACCOUNT:
        statement["decision_account"] = _ACCOUNT[row["action"]]
    if grounds.ground == "illegal":
        statement["illegal_content_legal_ground"] = grounds.legal_ground
        statement["illegal_content_explanation"] = f"{facts} ({reference})"
    else:
        statement["incompatible_content_ground"] = reference
        statement["incompatible_content_explanation"] = facts
    if grounds.reference_url:
        statement["decision_ground_reference_url"] = grounds.reference_url
    if content_other:
        statement["content_type_other"] = content_other
    if row["notice_type"] == NoticeType.TRUSTED_FLAGGER.value and row["trusted_flagger"]:
        statement["source_identity"] = row["trusted_flagger"]
    if config.territorial_scope:
        statement["territorial_scope"] = sorted(config.territorial_scope)
    return statement


def iter_statements(
    session: Session,
    *,
    actor: str | None,
    now: datetime,
    guidelines: GuidelineSet,
    config: ReportsConfig | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    batch: int = 2000,
) -> Iterator[dict[str, Any]]:
    """Statements of reasons of the restrictive decisions made in `[since, until)`, in
    decision order, streamed. Needs `view_reports` (leads and admins)."""
    authorize_actor(
        session,
        actor=actor,
        permission=Permission.VIEW_REPORTS,
        doing="write statements of reasons",
        now=now,
    )
    config = config or ReportsConfig()
    params = {k: v for k, v in {"since": since, "until": until}.items() if v is not None}
    sql = _sql(bounds_clause("d.decided_at", since, until))
    stmt = query(sql, params).columns(**_TYPES)
    rows = session.execute(stmt.execution_options(yield_per=batch), params).mappings()
    for row in rows:
        yield statement_of(dict(row), guidelines=guidelines, config=config)
