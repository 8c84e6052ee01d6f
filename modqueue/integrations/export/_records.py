"""One export record per decided item, streamed from one ordered query.

Absent strings are written as `""` and a missing appeal as `"none"`, so every column's
type can be inferred from any record (the `datasets` JSON loader infers the schema from
the first rows it reads); `agreement` is null when an item has fewer than two labels.

The query joins each decided item (one whose `final_label` is set) with its decisions
and its latest closed appeal, ordered by item and decision, and is read in batches
(`yield_per`; a server-side cursor on PostgreSQL, planned for the whole result). Rows
are grouped by item as they arrive, so memory holds one item at a time whatever the
size of the table.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select
from sqlmodel import col

from modqueue.guidelines import Action
from modqueue.integrations.export._privacy import Pseudonymiser
from modqueue.quality import item_agreement
from modqueue.queue import (
    CONTENT_COLUMNS,
    TRIAGE,
    Appeal,
    AppealStatus,
    Decision,
    DecisionKind,
    DecisionStatus,
    Item,
    is_automated,
    mask_pii,
    split_for,
)

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
    "automated",
)
"""Every record's fields. `automated` is true when the item's label was set by no person
looking at it (a cluster's decision propagated to a late copy, a bank match: see
`modqueue.queue.is_automated`). `split` keeps every cluster in one split: an item in a
cluster takes the split of its cluster, whatever its own text."""

_ITEM_COLS: tuple[Any, ...] = (
    *CONTENT_COLUMNS,
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
        select(
            *_ITEM_COLS,
            *_DECISION_COLS,
            col(Appeal.status).label("appeal"),
            col(Item.cluster_id),
            col(Item.content_split),
        )
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


_ESCALATE = Action.ESCALATE.value
_SECOND = DecisionKind.SECOND_REVIEW
_ACTIVE = DecisionStatus.ACTIVE.value


def _record(rows: list[Any], names: Pseudonymiser) -> tuple[dict[str, Any], dict[str, str]]:
    """The record of one item from its joined rows (columns in `_query` order), and its
    `{annotator: label}`."""
    (_, source, external_id, raw_text, url, media, author_id, policy, final_label) = rows[0][:9]
    decided_at, appeal, cluster_id = rows[0][9], rows[0][20], rows[0][21]
    annotations = []
    labels: dict[str, str] = {}
    final = rows[-1]
    for r in rows:
        annotator = names.annotator(r[10])
        annotations.append(
            {
                "annotator": annotator,
                "label": r[11],
                "source": r[13],
                "seconds": float(r[14]),
                "second_review": r[15] == _SECOND,
                "kind": r[15],
                "decided_at": r[19],
            }
        )
        if r[12] != _ESCALATE:
            labels[annotator] = r[11]
            if r[11] == final_label and r[16] == _ACTIVE:
                final = r
    text = mask_pii(raw_text) if raw_text else ""
    record = {
        "id": f"{source}:{external_id}",
        "source": source,
        "text": text,
        "url": url or "",
        "media": [{"kind": m.get("kind"), "url": m.get("url")} for m in media or ()],
        "author": names.author(source, author_id) or "",
        "policy": policy or TRIAGE,
        "label": final_label,
        "action": final[12],
        "annotations": annotations,
        "agreement": item_agreement(list(labels.values())) if len(labels) > 1 else None,
        "guideline_id": final[17],
        "guideline_version": final[18],
        "decided_at": decided_at,
        "appeal": appeal or "none",
        "split": split_for(
            text=text,
            url=url,
            media=media,
            source=source,
            external_id=external_id,
            masked=True,
            cluster_id=cluster_id,
        ),
        "automated": is_automated(final[13]),
    }
    return record, labels


def iter_records(
    conn: Connection,
    names: Pseudonymiser,
    *,
    policy: str | None = None,
    since: datetime | None = None,
    batch: int = 2000,
) -> Iterator[tuple[dict[str, Any], dict[str, str]]]:
    """Export records of decided items, each with its `{annotator: label}` (escalations
    left out, for agreement statistics), in item order."""
    query = _query(policy, since)
    if conn.dialect.name == "postgresql":
        # The export reads every row: plan the server-side cursor for the whole result
        # (hash joins and one sort, as `COPY` of the same query gets), not for its first
        # tenth (the default `cursor_tuple_fraction`: an index walk over every item).
        conn.exec_driver_sql("SET LOCAL cursor_tuple_fraction = 1.0")
    result = conn.execution_options(stream_results=True, yield_per=batch).execute(query)
    group: list[Any] = []
    current = None
    for row in result:
        if row[0] != current:
            if group:
                yield _record(group, names)
            group = []
            current = row[0]
        group.append(row)
    if group:
        yield _record(group, names)
