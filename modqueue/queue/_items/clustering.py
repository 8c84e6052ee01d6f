"""Cluster assignment at ingest: fingerprint a batch of items, find their copies, and
put copies in one `content_cluster` under their policy.

`assign_clusters(session, item_ids=...)` runs once per ingest batch, in the batch's
transaction, with a fixed number of statements whatever the batch size:

1. Fingerprint every item not fingerprinted yet (`fingerprints_many`: text MinHash
   signatures of the whole batch at once, media SHA-256 and PDQ from the item's media
   entries).
2. Look the batch's candidate keys (text bands, media digests) up in `fingerprint_band`
   (one statement, the keys as one array parameter, read through the driver), its PDQ
   hashes up in the process's in-memory index of `fingerprint_pdq`, brought up to date
   first (`pdq_store.pdq_neighbours`: the stored hashes within distance 31), and both
   among the batch itself.
3. For each item, in id order, try its candidates grouped by cluster (an unclustered
   candidate is a cluster of one), most shared keys first: the item joins the first
   whose representative, or one of its best-matching candidate members, is a copy under
   the policy's thresholds (guideline front matter `clusters:`) and has the same policy
   (the representative, then up to 4 candidate members sharing the most keys). A
   match with an unclustered item creates a cluster with both (the earlier item is the
   representative). Clusters are never merged: a removal must never spread to a
   non-copy, so an item matches a concrete member, never a chain of them.
4. Write fingerprints, the keys and PDQ hashes new to each cluster, new clusters,
   `item.cluster_id`, and recount the touched clusters' `member_count`.
5. Match the batch against the known-content bank (`bank_lookup`): a match becomes a
   signal `bank:<policy>` with its distance (so it feeds priority like any signal) and a
   `bank` fingerprint row (`bank_matches`), by which the cluster tools can tell a
   bank-matched item.
"""

from __future__ import annotations

import json
import weakref
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import chain
from operator import itemgetter
from typing import Any

import numpy as np
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    String,
    any_,
    bindparam,
    func,
    insert,
    literal_column,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col

from modqueue.guidelines import ClusterSettings, GuidelineSet
from modqueue.queue._core.cluster_models import ClusterStatus, ContentCluster
from modqueue.queue._core.match_models import ItemFingerprint
from modqueue.queue._core.models import Item
from modqueue.queue._core.routing import rescore
from modqueue.queue._core.types import ItemStatus, utcnow
from modqueue.queue._items.bank import BankMatch, bank_lookup
from modqueue.queue._items.candidates import batch_keys
from modqueue.queue._items.collector import collector_paused
from modqueue.queue._items.fingerprints import (
    Fingerprints,
    fingerprints_many,
    pdq_chunk_hits,
    signatures_from_hex,
)
from modqueue.queue._items.pdq_index import MIH_MAX_DISTANCE, pdq_bytes
from modqueue.queue._items.pdq_store import OWN_FLOOR, pdq_neighbours

__all__ = ["NewContent", "assign_clusters", "bank_matches", "cluster_settings", "late_members"]

_KEYS_PER_QUERY = 2000
_CLUSTER_TABLE = ContentCluster.__table__  # type: ignore[attr-defined]
_OPEN_CLUSTERS = insert(_CLUSTER_TABLE).returning(
    _CLUSTER_TABLE.c.id, _CLUSTER_TABLE.c.representative_item_id
)
"""New clusters (`_create_clusters`), executed with one parameter set per cluster."""
_ANCHORS_PER_ITEM = 8
_TRIES_PER_ANCHOR = 4
_DEFAULT = ClusterSettings()
_COUNT = itemgetter(1)

_Anchor = int
"""A cluster (its id), or a cluster made in this batch or an item in none (minus its
representative's id)."""
_BatchRow = tuple[int, str | None, list[dict[str, Any]], str | None, str, int | None]
"""An item to fingerprint: id, text, media, policy, queue, cluster id."""


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


def _among(session: Session, column: Any, values: Collection[int]) -> ColumnElement[bool]:
    """`column IN values` with one parameter however many values: a bigint array on
    PostgreSQL (`= ANY`), a JSON array read by `json_each` on SQLite (both use the
    column's index), so a batch's lookups cost one statement each, not one per few
    thousand values."""
    ordered = sorted(values)
    if session.get_bind().dialect.name == "postgresql":
        return col(column) == any_(bindparam(None, ordered, type_=ARRAY(BigInteger)))
    listed = bindparam(None, json.dumps(ordered), type_=String)
    return col(column).in_(select(literal_column("value")).select_from(func.json_each(listed)))


def _pg_array(values: Iterable[int]) -> str:
    """A PostgreSQL array literal of integers (`{1,2,3}`, cast by the statement): joined
    in C, where psycopg dumps a list element by element in Python (a batch's lookups
    pass tens of thousands)."""
    return "{" + ",".join(map(str, values)) + "}"


def _fetch(session: Session, query: str, values: Collection[int]) -> Sequence[Any]:
    """The rows of `query`, whose `{}` is a test of membership in `values` (as in
    `_among`), read straight through the driver: a batch's candidate lookups return tens
    of thousands of plain rows."""
    if not values:
        return []
    conn = session.connection()
    ordered = sorted(values)
    cursor = conn.connection.cursor()
    try:
        if conn.dialect.name == "postgresql":
            cursor.execute(query.format("= ANY(%s::bigint[])"), (_pg_array(ordered),))
        else:
            listed = json.dumps(ordered)
            cursor.execute(query.format("IN (SELECT value FROM json_each(?))"), (listed,))
        return cursor.fetchall()
    finally:
        cursor.close()


def _postings(session: Session, keys: Collection[int]) -> Sequence[tuple[int, int]]:
    """The `(key, item id)` rows of `fingerprint_band` under `keys` (the driver's rows,
    as they come)."""
    return _fetch(session, "SELECT key, item_id FROM fingerprint_band WHERE key {}", keys)


def _load_prints(session: Session, ids: Collection[int]) -> dict[int, Fingerprints]:
    """The stored fingerprints of `ids`, the text signatures decoded all at once."""
    found: dict[int, Fingerprints] = {}
    texts: list[tuple[Fingerprints, str]] = []
    # (A filter on `kind` in the statement would make SQLite search by the kind index.)
    for item_id, kind, value in _fetch(
        session, "SELECT item_id, kind, value FROM item_fingerprint WHERE item_id {}", ids
    ):
        prints = found.get(item_id)
        if prints is None:
            prints = found[item_id] = Fingerprints()
        if kind == "text_minhash":
            texts.append((prints, value))
        elif kind == "pdq":
            prints.pdq.append(value)
        elif kind == "sha256":
            prints.sha256.append(value)
    if texts:
        words, hexed = zip(*(value.partition(":")[::2] for _, value in texts), strict=True)
        signatures = signatures_from_hex(hexed)
        for (prints, _), count, signature in zip(texts, words, signatures, strict=True):
            prints.signature, prints.words = signature, int(count)
    return found


def _load_members(session: Session, ids: Collection[int]) -> dict[int, _Member]:
    return {
        item_id: _Member(item_id, policy, queue, cluster_id)
        for item_id, policy, queue, cluster_id in _fetch(
            session, "SELECT id, policy, queue, cluster_id FROM item WHERE id {}", ids
        )
    }


def _execute_many(session: Session, statement: str, rows: Sequence[tuple[Any, ...]]) -> None:
    """`statement` (with `{}` for each parameter) once per row of plain values, straight
    through the driver's `executemany`: no per-row work in SQLAlchemy."""
    if not rows:
        return
    conn = session.connection()
    mark = "%s" if conn.dialect.name == "postgresql" else "?"
    conn.exec_driver_sql(statement.format(*[mark] * len(rows[0])), list(rows))


def _insert_rows(
    session: Session, table: str, columns: tuple[str, ...], rows: Sequence[tuple[Any, ...]]
) -> None:
    """Insert `rows` (plain values, in `columns` order) into `table`: `COPY` on
    PostgreSQL (psycopg's `executemany` is several times the Python work per row; other
    columns take their defaults, as with `INSERT`), `executemany` on SQLite."""
    if not rows:
        return
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        driver: Any = conn.connection.driver_connection
        statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
        with driver.cursor() as cur, cur.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
        return
    places = ", ".join(["{}"] * len(columns))
    _execute_many(session, f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({places})", rows)


def _set_clusters(session: Session, homes: Sequence[tuple[int, int]]) -> None:
    """`item.cluster_id` of each `(item id, cluster id)`: one `UPDATE ... FROM unnest`
    on PostgreSQL, `executemany` on SQLite."""
    if not homes:
        return
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(
            "UPDATE item SET cluster_id = v.cluster_id "
            "FROM unnest(%s::bigint[], %s::bigint[]) AS v(id, cluster_id) WHERE item.id = v.id",
            (_pg_array(i for i, _ in homes), _pg_array(c for _, c in homes)),
        )
        return
    _execute_many(
        session, "UPDATE item SET cluster_id = {} WHERE id = {}", [(c, i) for i, c in homes]
    )


def _batch_pdq_pairs(
    items: Sequence[tuple[int, list[str]]],
) -> dict[int, list[tuple[int, str, int]]]:
    """For each item of a batch (in order), the earlier items with a PDQ hash within
    distance 31 of one of its own: `{item: [(earlier item, its hash, the 16-bit chunks
    the two share within one bit)]}`."""
    owners = [(item_id, pdq) for item_id, hashes in items for pdq in hashes]
    if len(owners) < 2:
        return {}
    words = pdq_bytes([pdq for _, pdq in owners]).view(">u8").astype("uint64")
    order = {item_id: n for n, (item_id, _) in enumerate(items)}
    found: dict[int, list[tuple[int, str, int]]] = defaultdict(list)
    step = max(1, (1 << 20) // len(owners))  # rows compared with all at once
    for first in range(0, len(owners), step):
        block = words[first : first + step]
        distances = np.bitwise_count(block[:, None, :] ^ words[None, :, :]).sum(axis=2)
        later, earlier = np.nonzero(distances <= MIH_MAX_DISTANCE)
        for row, other_row in zip((later + first).tolist(), earlier.tolist(), strict=True):
            item_id, mine = owners[row]
            other, value = owners[other_row]
            if order[other] < order[item_id]:
                found[item_id].append((other, value, pdq_chunk_hits(mine, value)))
    return found


def _insert_pdq_rows(session: Session, rows: Sequence[tuple[int, str]]) -> None:
    """Insert `fingerprint_pdq` rows; on SQLite first note the largest id before this
    transaction's first ones (`pdq_store.OWN_FLOOR`: rows above it are not committed
    yet, so the in-memory index does not keep them)."""
    if not rows:
        return
    if session.get_bind().dialect.name != "postgresql":
        transaction = session.get_transaction()
        held = session.info.get(OWN_FLOOR)
        if transaction is not None and (held is None or held[0]() is not transaction):
            floor = session.connection().exec_driver_sql(
                "SELECT coalesce(max(id), 0) FROM fingerprint_pdq"
            )
            session.info[OWN_FLOOR] = (weakref.ref(transaction), int(floor.scalar_one()))
    _insert_rows(session, "fingerprint_pdq", ("item_id", "value"), rows)


def _representatives(session: Session, ids: Collection[int]) -> dict[int, int | None]:
    """The representative item of each of the clusters `ids`."""
    return {
        int(cluster_id): rep
        for cluster_id, rep in _fetch(
            session, "SELECT id, representative_item_id FROM content_cluster WHERE id {}", ids
        )
    }


def _anchor_keys(
    seat: Mapping[int, tuple[str | None, _Anchor]],
    items: np.ndarray[Any, np.dtype[np.int64]],
    small_keys: np.ndarray[Any, np.dtype[np.int64]],
    width: int,
) -> set[int]:
    """`anchor * width + key` for every stored row read (`items[i]` under the key
    numbered `small_keys[i]`, below `width`) whose item has a seat (its anchor)."""
    if not len(items) or not seat:
        return set()
    ids = np.fromiter(seat.keys(), dtype=np.int64, count=len(seat))
    anchors = np.fromiter((a for _, a in seat.values()), dtype=np.int64, count=len(seat))
    order = np.argsort(ids)
    ids, anchors = ids[order], anchors[order]
    at = np.minimum(np.searchsorted(ids, items), len(ids) - 1)
    seated = ids[at] == items
    codes: list[int] = np.unique(anchors[at[seated]] * width + small_keys[seated]).tolist()
    return set(codes)


NewContent = tuple[str | None, list[dict[str, Any]], str | None, str, list[str] | None]
"""What ingest stored of a new item: `(text, media, policy, queue, words)`, `words` the
text's `normalise_text` when ingest computed it (None when not)."""


def _read_batch(session: Session, item_ids: Sequence[int]) -> list[_BatchRow]:
    """The items of `item_ids` not fingerprinted yet, by id, as stored."""
    wanted = set(item_ids)
    done = set(
        session.scalars(
            select(col(ItemFingerprint.item_id))
            .where(_among(session, ItemFingerprint.item_id, wanted))
            .distinct()
        )
    )
    # Read through the driver: no per-row work in SQLAlchemy (a JSON column comes back
    # as text from SQLite, already decoded from PostgreSQL).
    return [
        (i, text, json.loads(media) if isinstance(media, str) else media, policy, queue, cid)
        for i, text, media, policy, queue, cid in _fetch(
            session,
            "SELECT id, text, media, policy, queue, cluster_id FROM item WHERE id {} ORDER BY id",
            wanted - done,
        )
    ]


def _create_clusters(
    session: Session, reps: Sequence[int], members: Mapping[int, _Member], now: datetime
) -> dict[int, int]:
    """Open one cluster for each representative of `reps` (policy and queue its own), in
    that order: `{representative: cluster id}`. One cached `INSERT ... RETURNING` over
    all of them (SQLAlchemy's "insertmanyvalues": a few multi-row statements, no ORM
    objects), each id told by its representative (unique among new clusters), so nothing
    relies on the order of the returned rows."""
    if not reps:
        return {}
    rows = [
        {
            "policy": members[rep].policy,
            "queue": members[rep].queue,
            "representative_item_id": rep,
            "member_count": 0,
            "status": ClusterStatus.OPEN,
            "created_at": now,
            "updated_at": now,
        }
        for rep in reps
    ]
    return {int(rep): int(cid) for cid, rep in session.execute(_OPEN_CLUSTERS, rows)}


def assign_clusters(
    session: Session,
    *,
    item_ids: Sequence[int],
    guidelines: GuidelineSet | None = None,
    now: datetime | None = None,
    new_items: Mapping[int, NewContent] | None = None,
) -> list[int]:
    """Fingerprint the items `item_ids` and put each copy in its cluster; returns the
    ids of the clusters created or joined (sorted).

    Runs in the caller's transaction. Items already fingerprinted are left as they are
    (a re-ingest changes nothing). `guidelines` give each policy's thresholds (defaults
    without them). See the module docstring for the steps.

    `new_items` (ingest): the content of every item of `item_ids`, just inserted by this
    transaction (so in no cluster and not fingerprinted yet), as stored: the items are
    not read back.

    The cyclic garbage collector is held off during the call (`collector_paused`: the
    batch's many short-lived containers would otherwise be promoted and walked again
    and again by full collections).
    """
    if not item_ids:
        return []
    with collector_paused():
        return _assign_clusters(
            session,
            item_ids=item_ids,
            guidelines=guidelines,
            now=now or utcnow(),
            new_items=new_items,
        )


def _assign_clusters(
    session: Session,
    *,
    item_ids: Sequence[int],
    guidelines: GuidelineSet | None,
    now: datetime,
    new_items: Mapping[int, NewContent] | None,
) -> list[int]:
    """`assign_clusters`, the collector paused."""
    batch: list[_BatchRow]
    known: list[list[str] | None] | None = None
    if new_items is not None:
        ordered = sorted(set(item_ids))
        batch = [(i, *new_items[i][:4], None) for i in ordered]
        known = [new_items[i][4] for i in ordered]
    else:
        batch = _read_batch(session, item_ids)
    if not batch:
        return []
    members: dict[int, _Member] = {}
    prints: dict[int, Fingerprints] = {}
    computed = fingerprints_many(
        [(text, media or []) for _, text, media, *_ in batch], known_words=known
    )
    for (item_id, _text, _media, policy, queue, cluster_id), found in zip(
        batch, computed, strict=True
    ):
        prints[item_id] = found
        members[item_id] = _Member(item_id, policy, queue, cluster_id, found)
    order = [item_id for item_id, *_ in batch]
    bands = {k: p.bands() for k, p in prints.items()}
    query_keys = [prints[i].query_keys(bands[i]) for i in order]
    stored_keys = [prints[i].stored_keys(bands[i]) for i in order]
    rows = _postings(session, set(chain.from_iterable(query_keys)))
    keys = batch_keys(query_keys, stored_keys, rows)
    stored = set(np.unique(keys.posting_items).tolist())
    # PDQ: the stored hashes within distance 31 ({item: {stored item: its hash}}), and
    # the pairs within the batch (an item finds the earlier ones, as by their keys).
    pdq_near = pdq_neighbours(session, {k: p.pdq for k, p in prints.items() if p.pdq})
    for near in pdq_near.values():
        stored.update(near)
    batch_pdq = _batch_pdq_pairs([(item_id, prints[item_id].pdq) for item_id in order])
    members.update(_load_members(session, stored - members.keys()))
    representatives = _representatives(
        session, {m.cluster_id for m in members.values() if m.cluster_id is not None}
    )
    # Fingerprints of the stored representatives and candidates, in one query.
    needed = {i for i in representatives.values() if i is not None} | stored
    for item_id, found in _load_prints(session, needed - prints.keys()).items():
        if item_id in members:
            members[item_id].prints = found
        else:
            members[item_id] = _Member(item_id, None, "", None, found)

    # The batch items storing each key so far (keys as `keys`' small numbers).
    batch_keys_of: dict[int, list[int]] = {}
    new_clusters: dict[int, list[int]] = {}  # representative id -> its new members
    joined: dict[int, int] = {}  # item id -> existing cluster id
    band_rows: list[tuple[int, int]] = []
    fingerprint_rows: list[tuple[int, str, str]] = []
    thresholds: dict[str | None, tuple[float, int]] = {}

    # Each member's policy and anchor (its cluster, or itself in none); a batch item's
    # anchor changes once, when it is assigned, before any later item looks at it.
    seat: dict[int, tuple[str | None, _Anchor]] = {
        i: (m.policy, -i if m.cluster_id is None else m.cluster_id) for i, m in members.items()
    }

    # The keys each anchor (a cluster, or an item in none) already has: those of its
    # stored members (stored items never change anchor during the batch) and those its
    # members in the batch brought, as one set of `anchor * width + key` (keys as
    # `keys`' small numbers, below `width`), built from the rows read in numpy.
    width = keys.width
    anchor_keys = _anchor_keys(seat, keys.posting_items, keys.posting_keys, width)
    # Likewise the PDQ hashes each anchor has stored (those near the batch's).
    anchor_pdq: dict[_Anchor, set[str]] = defaultdict(set)
    for near in pdq_near.values():
        for other, (value, _hits) in near.items():
            if other in seat:
                anchor_pdq[seat[other][1]].add(value)
    batch_pdq_stored: dict[int, list[str]] = {}  # batch item -> the hashes it stored
    pdq_rows: list[tuple[int, str]] = []

    def representative(anchor: _Anchor) -> int | None:
        return -anchor if anchor < 0 else representatives.get(anchor)

    for position, item_id in enumerate(order):
        item = members[item_id]
        mine = prints[item_id]
        limits = thresholds.get(item.policy)
        if limits is None:
            settings = cluster_settings(guidelines, item.policy)
            limits = thresholds[item.policy] = (settings.text_jaccard, settings.pdq_distance)
        text_jaccard, pdq_max = limits
        # The stored items sharing keys (counted for the batch at once), then the batch
        # items before this one, then PDQ neighbours.
        hits = keys.stored_hits[position]
        met = [j for j, key in enumerate(keys.query[position]) if key in batch_keys_of]
        if met:
            # The keys in the order of a set of them filled in the item's key order
            # (as `set.intersection` gave them before: it breaks ties).
            small, originals = keys.query[position], keys.query_keys[position]
            if len(met) > 1:
                by_key = {originals[j]: small[j] for j in met}
                met_keys = [by_key[k] for k in {originals[j] for j in met}]
            else:
                met_keys = [small[met[0]]]
            for key in met_keys:
                for other in batch_keys_of[key]:
                    hits[other] = hits.get(other, 0) + 1
        for other, (_value, shared) in pdq_near.get(item_id, {}).items():
            hits[other] = hits.get(other, 0) + shared
        for other, theirs_pdq, shared in batch_pdq.get(item_id, ()):
            if theirs_pdq in batch_pdq_stored.get(other, ()):
                hits[other] = hits.get(other, 0) + shared
        hits.pop(item_id, None)
        chosen: _Anchor | None = None
        if item.cluster_id is None and hits:
            by_anchor: dict[_Anchor, list[int]] = {}
            weight: dict[_Anchor, int] = {}
            # Most shared keys first, ties in the order met (as `Counter.most_common`).
            for other, count in sorted(hits.items(), key=_COUNT, reverse=True):
                placed = seat.get(other)
                if placed is None or placed[0] != item.policy:
                    continue
                anchor = placed[1]
                listed = by_anchor.get(anchor)
                if listed is None:
                    by_anchor[anchor] = [other]
                    weight[anchor] = count
                else:
                    listed.append(other)
                    weight[anchor] += count
            # The cluster sharing the most keys first: copies keep to one cluster.
            ranked = sorted(weight.items(), key=_COUNT, reverse=True)
            for anchor, _weight in ranked[:_ANCHORS_PER_ITEM]:
                candidates = by_anchor[anchor]
                rep = representative(anchor)
                tries = (
                    [rep, *candidates[:_TRIES_PER_ANCHOR]]
                    if rep is not None
                    else candidates[:_TRIES_PER_ANCHOR]
                )
                if any(
                    (theirs := members[t].prints) is not None
                    and mine.matches(theirs, text_jaccard=text_jaccard, pdq_max=pdq_max)
                    for t in dict.fromkeys(tries)
                    if t in members
                ):
                    chosen = anchor
                    break
        if chosen is not None:
            if chosen > 0:
                joined[item_id] = chosen
            else:
                new_clusters.setdefault(-chosen, []).append(item_id)
            seat[item_id] = (item.policy, chosen)
        home = seat[item_id][1]
        # Store only the keys the item's cluster does not have yet.
        base = home * width
        clustered = chosen is not None or item.cluster_id is not None
        for original, key in zip(stored_keys[position], keys.stored[position], strict=True):
            if clustered and base + key in anchor_keys:
                continue  # a member of the item's cluster already brought this key
            band_rows.append((original, item_id))
            carriers = batch_keys_of.get(key)
            if carriers is None:
                batch_keys_of[key] = [item_id]
            else:
                carriers.append(item_id)
            anchor_keys.add(base + key)
        home_pdq = anchor_pdq[home]
        for pdq in mine.pdq:
            if clustered and pdq in home_pdq:
                continue  # a member of the item's cluster already stored this hash
            pdq_rows.append((item_id, pdq))
            batch_pdq_stored.setdefault(item_id, []).append(pdq)
            home_pdq.add(pdq)
        fingerprint_rows.extend((item_id, kind, value) for kind, value in mine.rows())

    matches = bank_lookup(session, prints, guidelines=guidelines)
    if matches:
        _record_bank_matches(session, matches, guidelines=guidelines, now=now)
        fingerprint_rows.extend(
            (item_id, "bank", json.dumps(match.to_dict())) for item_id, match in matches.items()
        )
    _insert_rows(session, "item_fingerprint", ("item_id", "kind", "value"), fingerprint_rows)
    _insert_rows(session, "fingerprint_band", ("key", "item_id"), band_rows)
    _insert_pdq_rows(session, pdq_rows)
    touched: set[int] = set(joined.values())
    assignments: list[dict[str, int]] = [
        {"id": item_id, "cluster_id": cid} for item_id, cid in joined.items()
    ]
    for rep, cluster_id in _create_clusters(session, list(new_clusters), members, now).items():
        touched.add(cluster_id)
        assignments.extend({"id": i, "cluster_id": cluster_id} for i in [rep, *new_clusters[rep]])
    if assignments:
        _set_clusters(session, [(a["id"], a["cluster_id"]) for a in assignments])
        # Recount the touched clusters in one statement.
        members_of = (
            select(func.count())
            .where(col(Item.cluster_id) == col(ContentCluster.id))
            .scalar_subquery()
        )
        session.execute(
            update(ContentCluster.__table__)  # type: ignore[attr-defined]
            .where(_among(session, ContentCluster.id, touched))
            .values(member_count=members_of, updated_at=now)
        )
        # Objects the session holds see the new values, as after an ORM bulk update.
        homes = {a["id"]: a["cluster_id"] for a in assignments}
        for held in list(session.identity_map.values()):
            if isinstance(held, Item) and held.id in homes:
                set_committed_value(held, "cluster_id", homes[held.id])
            elif isinstance(held, ContentCluster) and held.id in touched:
                session.expire(held, ["member_count", "updated_at"])
    return sorted(touched)


def _record_bank_matches(
    session: Session,
    matches: dict[int, BankMatch],
    *,
    guidelines: GuidelineSet | None,
    now: datetime,
) -> None:
    """A bank match becomes a signal (`bank:<policy>`, with its distance) on the item,
    and a pending item is re-scored with it."""
    changes = []
    for item in session.scalars(select(Item).where(col(Item.id).in_(sorted(matches)))):
        match = matches[item.id]  # type: ignore[index]
        signal = match.signal()
        signals = [s for s in item.signals if s.get("name") != signal["name"]] + [signal]
        change: dict[str, Any] = {"id": item.id, "signals": signals, "updated_at": now}
        if guidelines is not None and item.status == ItemStatus.PENDING:
            priority, breakdown = rescore(
                guidelines,
                policy=item.policy,
                signals=signals,
                report_count=item.report_count,
                views=item.views,
                deadline_at=item.deadline_at,
                now=now,
            )
            change["priority"] = priority
            change["priority_breakdown"] = breakdown
        changes.append(change)
    if changes:
        session.execute(update(Item), changes)


def bank_matches(session: Session, *, item_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """The bank match recorded on each of `item_ids` that has one (entry, kind, policy,
    label, distance, score): decisions on these items may count as automated."""
    found: dict[int, dict[str, Any]] = {}
    for chunk in _chunks(sorted(set(item_ids)), _KEYS_PER_QUERY):
        for item_id, value in session.execute(
            select(col(ItemFingerprint.item_id), col(ItemFingerprint.value)).where(
                col(ItemFingerprint.item_id).in_(chunk), col(ItemFingerprint.kind) == "bank"
            )
        ):
            found[item_id] = json.loads(value)
    return found


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
