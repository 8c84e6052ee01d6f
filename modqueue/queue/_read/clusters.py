"""Clusters as a lead or reviewer sees them: the list, and one cluster with its members.

A cluster's **reach** is the sum of its members' `views`, its **reports** the sum of their
`report_count`. Its **priority** is its strongest open member's priority (the highest;
every member once none is open) plus a size bonus of up to `SIZE_BONUS` points that grows
with the member count logarithmically (`SIZE_FULL` members give the full bonus): a
thousand copies of one advert outrank one copy of a slightly worse one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Table, case, func, select
from sqlmodel import Session, col

from modqueue._exceptions import NotFound
from modqueue._fields import fields_dict
from modqueue.queue._core.cluster_models import ClusterDecision, ContentCluster
from modqueue.queue._core.models import Item
from modqueue.queue._core.types import ItemStatus

__all__ = [
    "SIZE_BONUS",
    "SIZE_FULL",
    "ClusterMember",
    "ClusterSummary",
    "ClusterView",
    "cluster_priority",
    "list_clusters",
    "show_cluster",
]

SIZE_BONUS = 10.0
SIZE_FULL = 1000
ITEM: Table = Item.metadata.tables["item"]
_TEXT_PREVIEW = 200


def cluster_priority(strongest: float, members: int) -> float:
    """The strongest member's priority plus the size bonus for `members` copies."""
    share = min(1.0, math.log10(max(members, 1)) / math.log10(SIZE_FULL))
    return round(strongest + SIZE_BONUS * share, 3)


@dataclass(frozen=True, slots=True)
class ClusterSummary:
    """One cluster in the list."""

    id: int
    policy: str | None
    queue: str
    status: str
    members: int
    open: int
    reach: int
    reports: int
    priority: float
    representative_item_id: int | None
    updated_at: datetime

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return fields_dict(self, updated_at=self.updated_at.isoformat())


@dataclass(frozen=True, slots=True)
class ClusterMember:
    """One member: its identity, state, author, reach and the start of its text."""

    item_id: int
    source: str
    external_id: str
    status: str
    queue: str
    final_label: str | None
    author_handle: str | None
    views: int
    report_count: int
    priority: float
    text: str | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return fields_dict(self)


@dataclass(frozen=True, slots=True)
class ClusterView:
    """One cluster: its summary, members (representative first), distinct authors and
    its decisions (newest first)."""

    summary: ClusterSummary
    members: list[ClusterMember]
    authors: list[str]
    decisions: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            **self.summary.to_dict(),
            "authors": self.authors,
            "members": [m.to_dict() for m in self.members],
            "decisions": self.decisions,
        }


def _stats_query() -> Any:
    pending = ITEM.c.status == ItemStatus.PENDING.value
    return select(
        ITEM.c.cluster_id,
        func.count().label("members"),
        func.coalesce(func.sum(case((pending, 1), else_=0)), 0).label("open"),
        func.coalesce(func.sum(ITEM.c.views), 0).label("reach"),
        func.coalesce(func.sum(ITEM.c.report_count), 0).label("reports"),
        func.max(ITEM.c.priority).label("strongest"),
        func.max(case((pending, ITEM.c.priority), else_=None)).label("strongest_open"),
    ).group_by(ITEM.c.cluster_id)


def _summary(cluster: ContentCluster, stats: Any) -> ClusterSummary:
    assert cluster.id is not None
    members = int(stats.members) if stats is not None else 0
    open_ = int(stats.open or 0) if stats is not None else 0
    strongest = 0.0
    if stats is not None:
        strongest = float(
            stats.strongest_open if stats.strongest_open is not None else stats.strongest or 0.0
        )
    return ClusterSummary(
        id=cluster.id,
        policy=cluster.policy,
        queue=cluster.queue,
        status=cluster.status,
        members=members,
        open=open_,
        reach=int(stats.reach) if stats is not None else 0,
        reports=int(stats.reports) if stats is not None else 0,
        priority=cluster_priority(strongest, members),
        representative_item_id=cluster.representative_item_id,
        updated_at=cluster.updated_at,
    )


def list_clusters(
    session: Session,
    *,
    status: str | None = None,
    policy: str | None = None,
    min_members: int = 2,
    limit: int = 50,
) -> list[ClusterSummary]:
    """Clusters of at least `min_members` members (of `status`, of `policy`), highest
    priority first, at most `limit`."""
    query = select(ContentCluster)
    if status is not None:
        query = query.where(col(ContentCluster.status) == status)
    if policy is not None:
        query = query.where(col(ContentCluster.policy) == policy)
    clusters = {c.id: c for c in session.scalars(query)}
    if not clusters:
        return []
    stats = {
        row.cluster_id: row
        for row in session.connection().execute(
            _stats_query().where(ITEM.c.cluster_id.in_(list(clusters)))
        )
    }
    found = [
        _summary(c, stats.get(c.id))
        for c in clusters.values()
        if stats.get(c.id) is not None and int(stats[c.id].members) >= min_members
    ]
    found.sort(key=lambda s: (-s.priority, -s.members, s.id))
    return found[:limit]


def show_cluster(session: Session, *, cluster_id: int) -> ClusterView:
    """Cluster `cluster_id` with its members (representative first, then by priority),
    distinct authors and decisions; `NotFound` when there is no such cluster."""
    cluster = session.get(ContentCluster, cluster_id)
    if cluster is None:
        raise NotFound(f"cluster {cluster_id} does not exist")
    stats = (
        session.connection()
        .execute(_stats_query().where(ITEM.c.cluster_id == cluster_id))
        .one_or_none()
    )
    rows = session.connection().execute(
        select(
            ITEM.c.id,
            ITEM.c.source,
            ITEM.c.external_id,
            ITEM.c.status,
            ITEM.c.queue,
            ITEM.c.final_label,
            ITEM.c.author_handle,
            ITEM.c.views,
            ITEM.c.report_count,
            ITEM.c.priority,
            ITEM.c.text,
        ).where(ITEM.c.cluster_id == cluster_id)
    )
    members = [
        ClusterMember(
            item_id=int(r.id),
            source=r.source,
            external_id=r.external_id,
            status=r.status,
            queue=r.queue,
            final_label=r.final_label,
            author_handle=r.author_handle,
            views=int(r.views),
            report_count=int(r.report_count),
            priority=float(r.priority),
            text=r.text[:_TEXT_PREVIEW] if r.text else r.text,
        )
        for r in rows
    ]
    rep = cluster.representative_item_id
    members.sort(key=lambda m: (m.item_id != rep, -m.priority, m.item_id))
    authors = sorted({m.author_handle for m in members if m.author_handle})
    decisions = [
        {
            "id": d.id,
            "reviewer": d.reviewer,
            "label": d.label,
            "action": d.action,
            "origin": d.origin,
            "status": d.status,
            "members": d.member_count,
            "excluded": d.excluded,
            "decided_at": d.decided_at.isoformat(),
        }
        for d in session.scalars(
            select(ClusterDecision)
            .where(col(ClusterDecision.cluster_id) == cluster_id)
            .order_by(col(ClusterDecision.id).desc())
        )
    ]
    return ClusterView(_summary(cluster, stats), members, authors, decisions)
