"""Tables of clusters: copies of one piece of content, decided once for all members.

- `ContentCluster`: items that matched one another (near-identical text, the same media
  digest, a close PDQ hash) under one policy. `item.cluster_id` points at it.
- `ClusterDecision`: one human decision over a cluster. Each member still gets its own
  `decision` row (with `decision.cluster_decision_id` pointing here), its own outbound
  action and its own audit event; this row records the act, who made it and whom it
  left out.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON
from sqlmodel import Field, SQLModel

from modqueue.queue._core.types import DecisionStatus, UTCDateTime, utcnow

__all__ = [
    "ClusterDecision",
    "ClusterDecisionPublic",
    "ClusterStatus",
    "ContentCluster",
    "ContentClusterPublic",
]


class ClusterStatus:
    """A cluster's state: open while members wait, decided once a cluster decision
    stands (late copies then follow the guideline's `propagate` setting)."""

    OPEN = "open"
    DECIDED = "decided"


class ContentClusterBase(SQLModel):
    """Copies of one piece of content under one policy."""

    policy: str | None = Field(default=None, max_length=100, index=True)
    queue: str = Field(max_length=200)
    representative_item_id: int | None = Field(default=None, index=True)
    member_count: int = 0
    status: str = Field(default=ClusterStatus.OPEN, max_length=20)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ContentCluster(ContentClusterBase, table=True):
    """Stored cluster. `representative_item_id` is a plain id (no foreign key) so the
    item and cluster tables do not reference each other in a cycle."""

    __tablename__ = "content_cluster"
    id: int | None = Field(default=None, primary_key=True)


class ContentClusterPublic(ContentClusterBase):
    """A cluster as listed to a lead."""

    id: int


class ClusterDecisionBase(SQLModel):
    """One decision applied to every member of a cluster but those excluded."""

    cluster_id: int = Field(foreign_key="content_cluster.id", index=True)
    reviewer: str = Field(max_length=200)
    label: str = Field(max_length=100)
    action: str = Field(max_length=40)
    guideline_id: str = Field(max_length=100)
    guideline_version: str = Field(max_length=80)
    decided_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    origin: str = Field(default="cluster", max_length=40)
    status: str = Field(default=DecisionStatus.ACTIVE, max_length=20)
    member_count: int = 0
    excluded: list[int] = Field(default_factory=list, sa_type=JSON)
    detail: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)


class ClusterDecision(ClusterDecisionBase, table=True):
    """Stored cluster decision."""

    __tablename__ = "cluster_decision"
    id: int | None = Field(default=None, primary_key=True)


class ClusterDecisionPublic(ClusterDecisionBase):
    """A cluster decision as returned by the API."""

    id: int
