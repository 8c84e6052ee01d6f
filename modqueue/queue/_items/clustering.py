"""Cluster assignment at ingest: fingerprint a batch of items, find their copies, and
put copies in one `content_cluster` under their policy.

`assign_clusters(session, item_ids=...)` runs once per ingest batch, in the batch's
transaction, with a fixed number of statements whatever the batch size:

1. Fingerprint every item not fingerprinted yet (`fingerprints_of`: text MinHash, media
   SHA-256 and PDQ from the item's media entries).
2. Look the batch's candidate keys up in `fingerprint_band` (one query per few thousand
   keys), and among the batch itself.
3. For each item, in id order, try its candidates grouped by cluster (an unclustered
   candidate is a cluster of one), most shared keys first: the item joins the first
   whose representative, or whose best-matching candidate member, is a copy under the
   policy's thresholds (guideline front matter `clusters:`) and has the same policy. A
   match with an unclustered item creates a cluster with both (the earlier item is the
   representative). Clusters are never merged: a removal must never spread to a
   non-copy, so an item matches a concrete member, never a chain of them.
4. Write fingerprints, the keys new to each cluster, new clusters, `item.cluster_id`,
   and recount the touched clusters' `member_count`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlmodel import Session, col

from modqueue.guidelines import ClusterSettings, GuidelineSet
from modqueue.queue._core.cluster_models import ClusterStatus, ContentCluster
from modqueue.queue._core.match_models import FingerprintBand, ItemFingerprint
from modqueue.queue._core.models import Item
from modqueue.queue._core.types import utcnow
from modqueue.queue._items.fingerprints import Fingerprints, fingerprints_of

__all__ = ["assign_clusters", "cluster_settings", "late_members"]

_KEYS_PER_QUERY = 2000
_ANCHORS_PER_ITEM = 8
_DEFAULT = ClusterSettings()


def cluster_settings(guidelines: GuidelineSet | None, policy: str | None) -> ClusterSettings:
    """The `clusters:` settings of `policy`'s guideline (defaults when unknown)."""
    if guidelines is None or policy is None or policy not in guidelines:
        return _DEFAULT
    return guidelines.get(policy).clusters


@dataclass(slots=True)
class _Member:
    id: int
    policy: str | None
    queue: str
    cluster_id: int | None
    prints: Fingerprints | None = None


def _chunks(values: Sequence[int], size: int) -> Iterable[Sequence[int]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _postings(session: Session, keys: set[int]) -> dict[int, list[int]]:
    found: dict[int, list[int]] = defaultdict(list)
    ordered = sorted(keys)
    for chunk in _chunks(ordered, _KEYS_PER_QUERY):
        rows = session.execute(
            select(col(FingerprintBand.key), col(FingerprintBand.item_id)).where(
                col(FingerprintBand.key).in_(chunk)
            )
        )
        for key, item_id in rows:
            found[key].append(item_id)
    return found


def _load_prints(session: Session, ids: Iterable[int]) -> dict[int, Fingerprints]:
    rows: dict[int, list[tuple[str, str]]] = defaultdict(list)
    wanted = sorted(set(ids))
    for chunk in _chunks(wanted, _KEYS_PER_QUERY):
        for item_id, kind, value in session.execute(
            select(
                col(ItemFingerprint.item_id), col(ItemFingerprint.kind), col(ItemFingerprint.value)
            ).where(col(ItemFingerprint.item_id).in_(chunk))
        ):
            rows[item_id].append((kind, value))
    return {item_id: Fingerprints.from_rows(found) for item_id, found in rows.items()}


def _load_members(session: Session, ids: Iterable[int]) -> dict[int, _Member]:
    members: dict[int, _Member] = {}
    wanted = sorted(set(ids))
    for chunk in _chunks(wanted, _KEYS_PER_QUERY):
        for item_id, policy, queue, cluster_id in session.execute(
            select(col(Item.id), col(Item.policy), col(Item.queue), col(Item.cluster_id)).where(
                col(Item.id).in_(chunk)
            )
        ):
            members[item_id] = _Member(item_id, policy, queue, cluster_id)
    return members


def assign_clusters(
    session: Session,
    *,
    item_ids: Sequence[int],
    guidelines: GuidelineSet | None = None,
    now: datetime | None = None,
) -> list[int]:
    """Fingerprint the items `item_ids` and put each copy in its cluster; returns the
    ids of the clusters created or joined (sorted).

    Runs in the caller's transaction. Items already fingerprinted are left as they are
    (a re-ingest changes nothing). `guidelines` give each policy's thresholds (defaults
    without them). See the module docstring for the steps.
    """
    now = now or utcnow()
    if not item_ids:
        return []
    done = set(
        session.scalars(
            select(col(ItemFingerprint.item_id))
            .where(col(ItemFingerprint.item_id).in_(sorted(set(item_ids))))
            .distinct()
        )
    )
    batch: list[tuple[int, str | None, list[dict[str, Any]], str | None, str, int | None]] = [
        (i, text, media, policy, queue, cluster_id)
        for i, text, media, policy, queue, cluster_id in session.execute(
            select(
                col(Item.id),
                col(Item.text),
                col(Item.media),
                col(Item.policy),
                col(Item.queue),
                col(Item.cluster_id),
            )
            .where(col(Item.id).in_(sorted(set(item_ids) - done)))
            .order_by(col(Item.id))
        )
    ]
    if not batch:
        return []
    members: dict[int, _Member] = {}
    prints: dict[int, Fingerprints] = {}
    for item_id, text, media, policy, queue, cluster_id in batch:
        prints[item_id] = fingerprints_of(text, media or [])
        members[item_id] = _Member(item_id, policy, queue, cluster_id, prints[item_id])
    query_keys = {k: p.query_keys() for k, p in prints.items()}
    postings = _postings(session, {k for keys in query_keys.values() for k in keys})
    stored = [i for ids in postings.values() for i in ids]
    members.update({m.id: m for m in _load_members(session, set(stored) - set(members)).values()})
    clusters = {
        c.id: c
        for c in session.scalars(
            select(ContentCluster).where(
                col(ContentCluster.id).in_(
                    sorted({m.cluster_id for m in members.values() if m.cluster_id is not None})
                )
            )
        )
        if c.id is not None
    }
    # Fingerprints of the stored representatives and candidates, in one query.
    needed = {c.representative_item_id for c in clusters.values()} | set(stored)
    loaded = _load_prints(session, {i for i in needed if i is not None} - set(prints))
    for item_id, found in loaded.items():
        if item_id in members:
            members[item_id].prints = found
        else:
            members[item_id] = _Member(item_id, None, "", None, found)

    batch_keys: dict[int, list[int]] = defaultdict(list)
    new_clusters: dict[int, list[int]] = {}  # representative id -> its new members
    joined: dict[int, int] = {}  # item id -> existing cluster id
    pending_rep: dict[int, int] = {}  # item id -> representative of a new cluster
    band_rows: list[dict[str, int]] = []
    fingerprint_rows: list[dict[str, Any]] = []

    def cluster_of(member_id: int) -> tuple[str, int]:
        member = members[member_id]
        if member.id in joined:
            return ("c", joined[member.id])
        if member.cluster_id is not None:
            return ("c", member.cluster_id)
        if member.id in pending_rep:
            return ("n", pending_rep[member.id])
        if member.id in new_clusters:
            return ("n", member.id)
        return ("n", member.id)

    def representative(anchor: tuple[str, int]) -> int | None:
        kind, ident = anchor
        if kind == "n":
            return ident
        cluster = clusters.get(ident)
        return cluster.representative_item_id if cluster is not None else None

    for item_id, *_ in batch:
        item = members[item_id]
        mine = prints[item_id]
        settings = cluster_settings(guidelines, item.policy)
        hits: Counter[int] = Counter()
        for key in query_keys[item_id]:
            for other in postings.get(key, ()):
                hits[other] += 1
            for other in batch_keys.get(key, ()):
                hits[other] += 1
        hits.pop(item_id, None)
        by_anchor: dict[tuple[str, int], list[int]] = defaultdict(list)
        for other, _count in hits.most_common():
            candidate = members.get(other)
            if candidate is None or candidate.policy != item.policy:
                continue
            by_anchor[cluster_of(other)].append(other)
        chosen: tuple[str, int] | None = None
        if item.cluster_id is None:
            for anchor, candidates in list(by_anchor.items())[:_ANCHORS_PER_ITEM]:
                rep = representative(anchor)
                tries = [rep, candidates[0]] if rep is not None else [candidates[0]]
                if any(
                    members[t].prints is not None
                    and mine.matches(
                        members[t].prints,  # type: ignore[arg-type]
                        text_jaccard=settings.text_jaccard,
                        pdq_max=settings.pdq_distance,
                    )
                    for t in dict.fromkeys(tries)
                    if t in members
                ):
                    chosen = anchor
                    break
        if chosen is not None:
            kind, ident = chosen
            if kind == "c":
                joined[item_id] = ident
            else:
                new_clusters.setdefault(ident, []).append(item_id)
                pending_rep[item_id] = ident
                pending_rep.setdefault(ident, ident)
        # Store only the keys the item's cluster does not have yet.
        home = cluster_of(item_id) if (chosen or item.cluster_id is not None) else None
        known = set()
        if home is not None:
            for key in query_keys[item_id]:
                for other in (*postings.get(key, ()), *batch_keys.get(key, ())):
                    if other != item_id and other in members and cluster_of(other) == home:
                        known.add(key)
                        break
        for key in mine.stored_keys():
            if key not in known:
                band_rows.append({"key": key, "item_id": item_id})
            batch_keys[key].append(item_id)
        fingerprint_rows.extend(
            {"item_id": item_id, "kind": kind, "value": value} for kind, value in mine.rows()
        )

    if fingerprint_rows:
        session.execute(ItemFingerprint.__table__.insert(), fingerprint_rows)  # type: ignore[attr-defined]
    if band_rows:
        session.execute(FingerprintBand.__table__.insert(), band_rows)  # type: ignore[attr-defined]
    touched: set[int] = set(joined.values())
    assignments: list[dict[str, int]] = [
        {"id": item_id, "cluster_id": cid} for item_id, cid in joined.items()
    ]
    if new_clusters:
        created = [
            ContentCluster(
                policy=members[rep].policy,
                queue=members[rep].queue,
                representative_item_id=rep,
                member_count=0,
                status=ClusterStatus.OPEN,
                created_at=now,
                updated_at=now,
            )
            for rep in new_clusters
        ]
        session.add_all(created)
        session.flush()
        for rep, cluster in zip(new_clusters, created, strict=True):
            assert cluster.id is not None
            touched.add(cluster.id)
            assignments.extend(
                {"id": i, "cluster_id": cluster.id} for i in [rep, *new_clusters[rep]]
            )
    if assignments:
        session.execute(update(Item), assignments)
        counts = dict(
            session.execute(
                select(col(Item.cluster_id), func.count())
                .where(col(Item.cluster_id).in_(sorted(touched)))
                .group_by(col(Item.cluster_id))
            ).all()
        )
        session.execute(
            update(ContentCluster),
            [{"id": cid, "member_count": counts.get(cid, 0), "updated_at": now} for cid in touched],
        )
    return sorted(touched)


def late_members(session: Session, *, item_ids: Sequence[int]) -> dict[int, list[int]]:
    """Of `item_ids`, those in a cluster already decided, by cluster id: the late copies
    the cluster's standing decision applies to (`apply_cluster_standing`)."""
    found: dict[int, list[int]] = defaultdict(list)
    for chunk in _chunks(sorted(set(item_ids)), _KEYS_PER_QUERY):
        rows = session.execute(
            select(col(Item.cluster_id), col(Item.id))
            .join(ContentCluster, col(ContentCluster.id) == col(Item.cluster_id))
            .where(col(Item.id).in_(chunk), col(ContentCluster.status) == ClusterStatus.DECIDED)
            .order_by(col(Item.id))
        )
        for cluster_id, item_id in rows:
            found[cluster_id].append(item_id)
    return dict(found)
