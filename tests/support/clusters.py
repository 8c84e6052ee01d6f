"""Seed cluster membership in tests, until ingest assigns clusters itself.

Creates a `content_cluster` row and points `item.cluster_id` of the given items at it:
tests only (CLUSTERS.md), never in `modqueue/`.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import update
from sqlmodel import col

from modqueue.queue import ContentCluster, Item, ReviewQueue


def seed_cluster(
    q: ReviewQueue, item_ids: Sequence[int], *, policy: str = "people-smuggling"
) -> int:
    """A cluster of `item_ids` (the first is the representative) under `policy`; its id."""
    with q.session() as s:
        cluster = ContentCluster(
            policy=policy,
            queue=policy,
            representative_item_id=item_ids[0],
            member_count=len(item_ids),
        )
        s.add(cluster)
        s.flush()
        assert cluster.id is not None
        s.execute(
            update(Item).where(col(Item.id).in_(list(item_ids))).values(cluster_id=cluster.id)
        )
        return cluster.id
