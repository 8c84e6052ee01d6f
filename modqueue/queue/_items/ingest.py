"""Bulk, idempotent ingest: new items are inserted, known ones merged."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Engine, select, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col

from modqueue.guidelines import GuidelineSet
from modqueue.queue._audit.chain import AuditRecord, record_events
from modqueue.queue._core.flood_config import FloodsConfig
from modqueue.queue._core.models import Item
from modqueue.queue._core.priority import number_json, string_json
from modqueue.queue._core.referrals import NoticeType, TrustedFlagger, notice_type_of
from modqueue.queue._core.routing import (
    TRIAGE,
    RescoreInputs,
    boost_part,
    deadline_for,
    keep_boost,
    rescore,
    rescore_json,
    with_boost,
)
from modqueue.queue._core.types import ItemStatus
from modqueue.queue._items.bulk import insert_new, stored_ids
from modqueue.queue._items.clustering import NewContent, assign_clusters, late_members
from modqueue.queue._items.floods import fold_floods
from modqueue.queue._items.schema import ItemIn
from modqueue.queue._items.splits import content_split_and_words

__all__ = ["LATE_COPIES", "IngestReport", "LateCopiesHandler", "Rejection", "ingest_batch"]


class LateCopiesHandler(Protocol):
    """What ingest calls for the new items that joined an already decided cluster."""

    def __call__(
        self,
        session: Session,
        *,
        cluster_id: int,
        item_ids: list[int],
        guidelines: GuidelineSet,
        now: datetime,
    ) -> object: ...


LATE_COPIES: list[LateCopiesHandler] = []
"""Called by `ingest_batch`, in its transaction, for each decided cluster that new items
joined. The decision pipeline (a layer above ingest) registers `apply_cluster_standing`
here when `modqueue.queue` is imported, so every ingest path (the CLI, feeds, drop
folders, `enqueue`) applies a cluster's standing decision to its late copies."""


@dataclass(frozen=True, slots=True)
class Rejection:
    """An input that was not accepted: its position (0-based, or a line number) and why."""

    position: int
    reason: str
    external_id: str | None = None


@dataclass(slots=True)
class IngestReport:
    """What an ingest did: counts of new and merged items, and every rejection."""

    new: int = 0
    merged: int = 0
    rejected: list[Rejection] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        """Items stored, new or merged."""
        return self.new + self.merged

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "new": self.new,
            "merged": self.merged,
            "rejected": [
                {"position": r.position, "reason": r.reason, "external_id": r.external_id}
                for r in self.rejected
            ],
        }


def _merge_signals(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One signal per name, the strongest kept (with its other keys, e.g. a bank match's
    `distance`)."""
    best: dict[str, dict[str, Any]] = {}
    for s in [*old, *new]:
        name, score = str(s["name"]), float(s["score"])
        if name not in best or score > float(best[name]["score"]):
            best[name] = {**s, "name": name, "score": score}
    return [best[n] for n in sorted(best)]


def _combine(first: ItemIn, later: ItemIn) -> ItemIn:
    """Two sightings of one item in the same batch, merged like a re-ingest."""
    data, extra = first.model_dump(), later.model_dump()
    data["signals"] = _merge_signals(data["signals"], extra["signals"])
    data["report_count"] = max(data["report_count"], extra["report_count"])
    data["views"] = max(data["views"], extra["views"])
    for key in ("text", "url", "media", "author", "policy", "reporter"):
        data[key] = data[key] or extra[key]
    return ItemIn.model_validate(data)


_PENDING = ItemStatus.PENDING.value


def _new_row(
    item: ItemIn,
    guidelines: GuidelineSet,
    now: datetime,
    flagger: TrustedFlagger | None,
    texts: bool = False,
    words: list[list[str] | None] | None = None,
) -> tuple[dict[str, Any], dict[str, str]]:
    """The stored row of a new item; with `texts`, also the JSON texts of its `signals`
    and `priority_breakdown`, exactly as `json.dumps` prints them (for the bulk store,
    which stores them without encoding the values again). A breakdown printed that way
    (no trusted flagger's boost to add) is not built: the row's is None. `words`, when
    given, gets the item's normalised words appended when its content split computed
    them (`content_split_and_words`; None when not), for fingerprinting."""
    signals = [{"name": s.name, "score": s.score} for s in item.signals]  # `model_dump()`
    policy = item.policy or guidelines.route(item.text, [(s.name, s.score) for s in item.signals])
    deadline = deadline_for(guidelines, policy, item.flagged_at, now, flagger)
    reporter = item.reporter.model_dump(exclude_none=True) if item.reporter else None
    inputs: RescoreInputs = {
        "policy": policy,
        "signals": signals,
        "report_count": item.report_count,
        "views": item.views,
        "deadline_at": deadline,
        "now": now,
    }
    encoded: dict[str, str] = {}
    breakdown: dict[str, Any] | None
    if texts and flagger is None:
        priority, encoded["priority_breakdown"] = rescore_json(guidelines, **inputs)
        breakdown = None
    else:
        priority, breakdown = with_boost(
            rescore(guidelines, **inputs),
            boost_part(flagger) if flagger is not None else None,
        )
    if texts:
        encoded["signals"] = (
            "["
            + ", ".join(
                f'{{"name": {string_json(s.name)}, "score": {number_json(s.score)}}}'
                for s in item.signals
            )
            + "]"
        )
    media = [m.model_dump(exclude_none=True) for m in item.media]
    split, normalised = content_split_and_words(
        text=item.text, url=item.url, media=media, source=item.source, external_id=item.external_id
    )
    if words is not None:
        words.append(normalised)
    row = {
        "source": item.source,
        "external_id": item.external_id,
        "text": item.text,
        "url": item.url,
        "media": media,
        "content_split": split,
        "author_id": item.author.id if item.author else None,
        "author_handle": item.author.handle if item.author else None,
        "policy": policy,
        "signals": signals,
        "report_count": item.report_count,
        "views": item.views,
        "flagged_at": item.flagged_at,
        "queue": policy or TRIAGE,
        "status": _PENDING,
        "priority": priority,
        "priority_breakdown": breakdown,
        "reporter": reporter,
        "ingested_at": now,
        "updated_at": now,
        "deadline_at": deadline,
        "deadline_state": "ok",
        "escalated": False,
        "notice_type": notice_type_of(
            flagger=flagger, report_count=item.report_count, reporter=reporter
        ).value,
        "trusted_flagger": flagger.organisation if flagger is not None else None,
    }
    return row, encoded


def _merge_into(
    row: Item, item: ItemIn, guidelines: GuidelineSet, now: datetime, flagger: TrustedFlagger | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Merge a re-ingested item into its stored row; returns (before, after) of what changed."""
    changes: dict[str, Any] = {
        "signals": _merge_signals(row.signals, [s.model_dump() for s in item.signals]),
        "report_count": max(row.report_count, item.report_count),
        "views": max(row.views, item.views),
    }
    if not row.text and item.text:
        changes["text"] = item.text
    if not row.url and item.url:
        changes["url"] = item.url
    if not row.media and item.media:
        changes["media"] = [m.model_dump(exclude_none=True) for m in item.media]
    if row.reporter is None and item.reporter is not None:
        changes["reporter"] = item.reporter.model_dump(exclude_none=True)
    if row.policy is None and item.policy and row.status == ItemStatus.PENDING:
        changes["policy"] = item.policy
        changes["queue"] = item.policy
        changes["deadline_at"] = deadline_for(guidelines, item.policy, row.flagged_at, now, flagger)
    if row.notice_type == NoticeType.OWN_INITIATIVE and (item.report_count > 0 or item.reporter):
        changes["notice_type"] = NoticeType.NOTICE.value
    changed = {k: v for k, v in changes.items() if getattr(row, k) != v}
    # Data sent again after retention purged it starts its own retention period.
    if "reporter" in changed:
        row.reporter_purged_at = None
    if {"text", "url", "media"} & changed.keys():
        row.content_purged_at = None
    before = {k: getattr(row, k) for k in changed if k not in ("text", "reporter")}
    if changed and row.status == ItemStatus.PENDING:
        priority, breakdown = with_boost(
            rescore(
                guidelines,
                policy=changed.get("policy", row.policy),
                signals=changed.get("signals", row.signals),
                report_count=changed.get("report_count", row.report_count),
                views=changed.get("views", row.views),
                deadline_at=changed.get("deadline_at", row.deadline_at),
                now=now,
            ),
            keep_boost(row.priority_breakdown),
        )
        before["priority"] = row.priority
        changed["priority"] = priority
        changed["priority_breakdown"] = breakdown
    for key, value in changed.items():
        setattr(row, key, value)
    if changed:
        row.updated_at = now
    after = {
        k: v for k, v in changed.items() if k not in ("text", "reporter", "priority_breakdown")
    }
    return _jsonable(before), _jsonable(after)


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in values.items()}


def _insert_statement(engine: Engine | Any) -> Any:
    dialect = engine.dialect.name
    factory = pg_insert if dialect == "postgresql" else sqlite_insert
    return (
        factory(Item)
        .on_conflict_do_nothing(index_elements=["source", "external_id"])
        .returning(col(Item.id), col(Item.source), col(Item.external_id))
    )


def ingest_batch(
    session: Session,
    *,
    items: Sequence[ItemIn],
    guidelines: GuidelineSet,
    now: datetime,
    actor: str = "ingest",
    flaggers: Mapping[str, TrustedFlagger] | None = None,
    fingerprint: bool = True,
    floods: FloodsConfig | None = None,
    bulk: bool = True,
) -> tuple[int, int]:
    """Store a batch of validated items in the caller's transaction: `(new, merged)`.

    `flaggers` maps source names declared trusted flaggers to their settings: their new
    items get the flagger's boost and deadline and are recorded as its referrals.

    Items already stored (same source and external_id) are merged: signals keep their
    strongest score, report counts and views their highest value, missing content is
    filled; a pending item is re-scored. No item is ever stored twice, even when
    several processes ingest the same items at once. New items are fingerprinted and
    put in their clusters (`assign_clusters`) unless `fingerprint=False` (benchmarks).
    With `floods`, the batch's items are then counted for flood folding (`fold_floods`,
    one call per batch).

    New items are stored by the bulk store (`_items/bulk.py`: `COPY` through a staging
    table on PostgreSQL, one `executemany` on SQLite); `bulk=False` takes the general path,
    one SQLAlchemy `INSERT ... ON CONFLICT DO NOTHING RETURNING`, which stores the same
    rows (the tests compare the two). Everything else is the same on both paths.
    """
    by_key: dict[tuple[str, str], ItemIn] = {}
    for item in items:
        key = (item.source, item.external_id)
        by_key[key] = _combine(by_key[key], item) if key in by_key else item
    if not by_key:
        return 0, 0
    keys = sorted(by_key)
    audit: list[AuditRecord] = []

    def merge_existing(wanted: list[tuple[str, str]], ids: Sequence[int] | None = None) -> int:
        """Merge the batch's items into the stored rows with identities `wanted` (or with
        `ids`, when they are known), locked in id order."""
        if not wanted:
            return 0
        where = (
            col(Item.id).in_(ids)
            if ids is not None
            else tuple_(Item.source, Item.external_id).in_(wanted)
        )
        rows = session.scalars(
            select(Item).where(where).order_by(Item.id).with_for_update()  # type: ignore[arg-type]
        )
        count = 0
        for row in rows:
            incoming = by_key[(row.source, row.external_id)]
            flagger = (flaggers or {}).get(row.source)
            before, after = _merge_into(row, incoming, guidelines, now, flagger)
            count += 1
            if after:
                audit.append(AuditRecord(actor, "merged", now, row.id, before, after))
        return count

    if bulk:
        stored = stored_ids(session, keys)
        existing = set(stored)
        merged = merge_existing(sorted(existing), sorted(stored.values()))
    else:
        existing = {
            (s, e)
            for s, e in session.execute(
                select(col(Item.source), col(Item.external_id)).where(
                    tuple_(Item.source, Item.external_id).in_(keys)
                )
            )
        }
        merged = merge_existing(sorted(existing))
    fresh = [k for k in keys if k not in existing]
    new = 0
    new_ids: list[int] = []
    contents: dict[int, NewContent] = {}
    if fresh:
        words: list[list[str] | None] = []
        built = [
            _new_row(
                by_key[k], guidelines, now, (flaggers or {}).get(k[0]), texts=bulk, words=words
            )
            for k in fresh
        ]
        rows = [row for row, _ in built]
        row_of = {(r["source"], r["external_id"]): r for r in rows}
        words_of = {(r["source"], r["external_id"]): w for r, w in zip(rows, words, strict=True)}
        inserted = (
            insert_new(session, rows, encoded=[texts for _, texts in built])
            if bulk
            else session.execute(_insert_statement(session.get_bind()), rows).all()
        )
        inserted_keys = set()
        for item_id, source, external_id in inserted:
            inserted_keys.add((source, external_id))
            new_ids.append(item_id)
            row = row_of[(source, external_id)]
            contents[item_id] = (
                row["text"],
                row["media"],
                row["policy"],
                row["queue"],
                words_of[(source, external_id)],
            )
            audit.append(
                AuditRecord(
                    actor,
                    "ingested",
                    now,
                    item_id,
                    None,
                    {"source": source, "external_id": external_id},
                )
            )
        new = len(inserted_keys)
        # Another process stored some of these between our read and our insert.
        merged += merge_existing([k for k in fresh if k not in inserted_keys])
    session.flush()
    record_events(session, audit)
    # Fingerprints and clusters of the new items: one set-based step per batch.
    if fingerprint:
        # The new items' content as just stored: not read back.
        assign_clusters(
            session, item_ids=new_ids, guidelines=guidelines, now=now, new_items=contents
        )
    # Late copies of decided clusters get the cluster's standing decision
    # (`apply_cluster_standing`, registered by the decision pipeline: see `LATE_COPIES`).
    if new_ids and LATE_COPIES:
        for cluster_id, late in late_members(session, item_ids=new_ids).items():
            for handler in LATE_COPIES:
                handler(
                    session, cluster_id=cluster_id, item_ids=late, guidelines=guidelines, now=now
                )
    if floods is not None:
        # Flood folding, after cluster assignment (a fingerprint flood is a cluster's):
        # one set-based call per batch (`_items/floods.py`).
        fold_floods(
            session,
            item_ids=[r.item_id for r in audit if r.item_id is not None],
            config=floods,
            guidelines=guidelines,
            now=now,
        )
    return new, merged
