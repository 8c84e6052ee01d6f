"""One export record per decided item, streamed from one ordered query.

Absent strings are written as `""` and a missing appeal as `"none"`, so every column's
type can be inferred from any record (the `datasets` JSON loader infers the schema from
the first rows it reads); `agreement` is null when an item has fewer than two labels.

The query joins each decided item (one whose `final_label` is set) with its decisions
and its latest closed appeal, ordered by item and decision, and is read in batches
(`yield_per`; a server-side cursor on PostgreSQL). Rows are grouped by item as they
arrive, so memory holds one item at a time whatever the size of the table.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select
from sqlmodel import col

from modqueue.guidelines import Action
from modqueue.integrations.export._privacy import Pseudonymiser, mask_pii
from modqueue.integrations.export._splits import split_for
from modqueue.quality import item_agreement
from modqueue.queue import TRIAGE, Decision, DecisionStatus, Item
from modqueue.queue._quality_flow import DecisionKind
from modqueue.queue._quality_models import Appeal, AppealStatus

__all__ = ["FIELDS", "iter_records"]

FIELDS = (
    "id",
    "source",
    "text",
    "url",
    "media",
    "author",
    "policy",
    "label",
    "action",
    "annotations",
    "agreement",
    "guideline_id",
    "guideline_version",
    "decided_at",
    "appeal",
    "split",
)

_ITEM_COLS: tuple[Any, ...] = (
    col(Item.id),
    col(Item.source),
    col(Item.external_id),
    col(Item.text),
    col(Item.url),
    col(Item.media),
    col(Item.author_id),
    col(Item.policy),
    col(Item.final_label),
    col(Item.decided_at).label("item_decided_at"),
)
_DECISION_COLS: tuple[Any, ...] = (
    col(Decision.reviewer),
    col(Decision.label),
    col(Decision.action),
    col(Decision.origin),
    col(Decision.seconds_spent),
    col(Decision.kind),
    col(Decision.status),
    col(Decision.guideline_id),
    col(Decision.guideline_version),
    col(Decision.decided_at).label("decision_decided_at"),
)


def _query(policy: str | None, since: datetime | None) -> Any:
    latest = (
        select(col(Appeal.item_id).label("item_id"), func.max(col(Appeal.id)).label("appeal_id"))
        .where(col(Appeal.status) != AppealStatus.OPEN)
        .group_by(col(Appeal.item_id))
        .subquery()
    )
    query = (
        select(*_ITEM_COLS, *_DECISION_COLS, col(Appeal.status).label("appeal"))
        .join(Decision, col(Decision.item_id) == col(Item.id))
        .outerjoin(latest, latest.c.item_id == col(Item.id))
        .outerjoin(Appeal, col(Appeal.id) == latest.c.appeal_id)
        .where(
            col(Item.final_label).is_not(None),
            col(Decision.status) != DecisionStatus.UNDONE,
        )
        .order_by(col(Item.id), col(Decision.id))
    )
    if policy == TRIAGE:
        query = query.where(or_(col(Item.policy).is_(None), col(Item.policy) == TRIAGE))
    elif policy:
        query = query.where(col(Item.policy) == policy)
    if since is not None:
        query = query.where(and_(col(Item.updated_at) > since))
    return query


def _record(rows: list[Any], names: Pseudonymiser) -> dict[str, Any]:
    first = rows[0]
    annotations = []
    labels: dict[str, str] = {}
    final = None
    for r in rows:
        annotations.append(
            {
                "annotator": names.annotator(r.reviewer),
                "label": r.label,
                "source": r.origin,
                "seconds": float(r.seconds_spent),
                "second_review": r.kind == DecisionKind.SECOND_REVIEW,
                "kind": r.kind,
                "decided_at": r.decision_decided_at,
            }
        )
        if r.action != Action.ESCALATE.value:
            labels[r.reviewer] = r.label
            if r.label == first.final_label and r.status == DecisionStatus.ACTIVE:
                final = r
    final = final or rows[-1]
    return {
        "id": f"{first.source}:{first.external_id}",
        "source": first.source,
        "text": mask_pii(first.text) if first.text else "",
        "url": first.url or "",
        "media": [{"kind": m.get("kind"), "url": m.get("url")} for m in first.media or []],
        "author": names.author(first.source, first.author_id) or "",
        "policy": first.policy or TRIAGE,
        "label": first.final_label,
        "action": final.action,
        "annotations": annotations,
        "agreement": item_agreement(list(labels.values())),
        "guideline_id": final.guideline_id,
        "guideline_version": final.guideline_version,
        "decided_at": first.item_decided_at,
        "appeal": first.appeal or "none",
        "split": split_for(
            text=first.text,
            url=first.url,
            media=first.media,
            source=first.source,
            external_id=first.external_id,
        ),
    }


def iter_records(
    conn: Connection,
    names: Pseudonymiser,
    *,
    policy: str | None = None,
    since: datetime | None = None,
    batch: int = 2000,
) -> Iterator[tuple[dict[str, Any], dict[str, str]]]:
    """Export records of decided items, with each item's `{annotator: label}` (for
    agreement statistics), in item order."""
    query = _query(policy, since)
    result = conn.execution_options(stream_results=True, yield_per=batch).execute(query)
    group: list[Any] = []
    for row in result:
        if group and row.id != group[0].id:
            yield _record(group, names), _labels(group, names)
            group = []
        group.append(row)
    if group:
        yield _record(group, names), _labels(group, names)


def _labels(rows: list[Any], names: Pseudonymiser) -> dict[str, str]:
    return {names.annotator(r.reviewer): r.label for r in rows if r.action != Action.ESCALATE.value}
