"""The known-content bank: fingerprints of confirmed removals, matched at ingest.

- `fill_bank(session)` (set-based) adds the PDQ hashes and text MinHash signatures of
  items whose standing decision is a removal (`remove`, `remove_and_ban`,
  `refer_law_enforcement`), and drops entries of items whose removal no longer stands
  (undone, reversed, superseded by a non-removal). Short texts are not banked.
- `bank_lookup(session, prints)` matches items' fingerprints against the bank, through
  an in-memory index (`PdqIndex` for PDQ, LSH bands for text) rebuilt when the bank
  changes (its row count and highest id, read once per call, so every process sees
  entries another one added).
- Export and import (`export_bank`, `import_bank`): the JSON Lines format of
  docs/clusters.md "Known-content bank".
"""

from __future__ import annotations

import hashlib
import threading
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col

from modqueue.guidelines import Action, GuidelineSet
from modqueue.queue._core.match_models import ItemFingerprint, KnownContent
from modqueue.queue._core.models import Decision, Item
from modqueue.queue._core.types import DecisionStatus, utcnow
from modqueue.queue._items.fingerprints import (
    SHORT_TEXT_WORDS,
    Fingerprints,
    Signature,
    band_keys,
    estimated_jaccard,
    signature_from_hex,
)
from modqueue.queue._items.pdq_index import PdqIndex

__all__ = [
    "REMOVAL_ACTIONS",
    "BankMatch",
    "bank_lookup",
    "bank_value_key",
    "fill_bank",
    "insert_bank_entries",
]

REMOVAL_ACTIONS = (
    Action.REMOVE.value,
    Action.REMOVE_AND_BAN.value,
    Action.REFER_LAW_ENFORCEMENT.value,
)
"""Decision actions whose items' fingerprints enter the bank."""

_DEFAULT_PDQ = 31
_DEFAULT_JACCARD = 0.8


def bank_value_key(kind: str, value: str) -> str:
    """The unique key of a bank value: a PDQ hash itself, the SHA-256 of a signature."""
    return value if kind == "pdq" else hashlib.sha256(value.encode()).hexdigest()


def insert_bank_entries(session: Session, rows: list[dict[str, Any]]) -> int:
    """Insert bank rows, skipping any already there (same kind, value, policy, label);
    returns how many were new."""
    if not rows:
        return 0
    factory = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    added = 0
    for start in range(0, len(rows), 1000):
        chunk = rows[start : start + 1000]
        statement = (
            factory(KnownContent)
            .on_conflict_do_nothing(index_elements=["kind", "value_key", "policy", "label"])
            .returning(col(KnownContent.id))
        )
        added += len(session.execute(statement, chunk).all())
    return added


def fill_bank(session: Session, *, now: datetime | None = None) -> tuple[int, int]:
    """Bring the bank in line with the standing removals; returns `(added, dropped)`."""
    now = now or utcnow()
    standing = (
        select(col(Decision.item_id))
        .join(Item, col(Item.id) == col(Decision.item_id))
        .where(
            col(Decision.status) == DecisionStatus.ACTIVE.value,
            col(Decision.action).in_(REMOVAL_ACTIONS),
            col(Decision.label) == col(Item.final_label),
        )
    )
    stale = delete(KnownContent).where(
        col(KnownContent.origin) == "confirmed",
        col(KnownContent.item_id).is_not(None),
        col(KnownContent.item_id).not_in(standing),
    )
    dropped = len(session.execute(stale.returning(col(KnownContent.id))).all())
    banked = select(col(KnownContent.item_id)).where(col(KnownContent.item_id).is_not(None))
    rows = session.execute(
        select(
            col(ItemFingerprint.item_id),
            col(ItemFingerprint.kind),
            col(ItemFingerprint.value),
            col(Item.policy),
            col(Item.final_label),
        )
        .join(Item, col(Item.id) == col(ItemFingerprint.item_id))
        .where(
            col(ItemFingerprint.kind).in_(("pdq", "text_minhash")),
            col(ItemFingerprint.item_id).in_(standing),
            col(ItemFingerprint.item_id).not_in(banked),
            col(Item.policy).is_not(None),
        )
    ).all()
    new: list[dict[str, Any]] = []
    for item_id, kind, value, policy, label in rows:
        if kind == "text_minhash":
            words, _, value = value.partition(":")
            if int(words) < SHORT_TEXT_WORDS:
                continue
        new.append(
            {
                "kind": kind,
                "value": value,
                "value_key": bank_value_key(kind, value),
                "policy": policy,
                "label": label,
                "distance": None,
                "origin": "confirmed",
                "item_id": item_id,
                "created_at": now,
            }
        )
    return insert_bank_entries(session, new), dropped


@dataclass(frozen=True, slots=True)
class BankMatch:
    """An item's match in the bank: the entry, its policy and label, how it matched and
    how far (`distance`: PDQ bits, or 1 - estimated Jaccard in hundredths for text)."""

    entry_id: int
    kind: str
    policy: str
    label: str
    distance: int
    score: float

    def signal(self) -> dict[str, Any]:
        """The item signal this match becomes."""
        return {"name": f"bank:{self.policy}", "score": self.score, "distance": self.distance}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the `bank` fingerprint of the item)."""
        return {
            "entry": self.entry_id,
            "kind": self.kind,
            "policy": self.policy,
            "label": self.label,
            "distance": self.distance,
            "score": self.score,
        }


@dataclass(slots=True)
class _Entry:
    policy: str
    label: str
    distance: int | None


_Row = tuple[int, str, str, str, str, int | None]


class _BankIndex:
    def __init__(self, stamp: tuple[int, int], rows: Iterable[_Row]) -> None:
        self.stamp = stamp
        self.entries: dict[int, _Entry] = {}
        pdq_hashes: list[str] = []
        pdq_ids: list[int] = []
        self.signatures: dict[int, Signature] = {}
        self.bands: dict[int, list[int]] = defaultdict(list)
        for entry_id, kind, value, policy, label, distance in rows:
            self.entries[entry_id] = _Entry(policy, label, distance)
            if kind == "pdq":
                pdq_hashes.append(value)
                pdq_ids.append(entry_id)
            else:
                signature = signature_from_hex(value)
                self.signatures[entry_id] = signature
                for key in band_keys(signature):
                    self.bands[key].append(entry_id)
        self.pdq = PdqIndex(pdq_hashes, pdq_ids)


_CACHE: dict[str, _BankIndex] = {}
_CACHE_LOCK = threading.Lock()


def _index(session: Session) -> _BankIndex | None:
    count, top = session.execute(
        select(func.count(), func.coalesce(func.max(col(KnownContent.id)), 0))
    ).one()
    if not count:
        return None
    where = str(session.get_bind().engine.url)
    stamp = (int(count), int(top))
    with _CACHE_LOCK:
        cached = _CACHE.get(where)
        if cached is not None and cached.stamp == stamp:
            return cached
    rows = session.execute(
        select(
            col(KnownContent.id),
            col(KnownContent.kind),
            col(KnownContent.value),
            col(KnownContent.policy),
            col(KnownContent.label),
            col(KnownContent.distance),
        )
    ).all()
    built = _BankIndex(stamp, rows)
    with _CACHE_LOCK:
        _CACHE[where] = built
    return built


def bank_lookup(
    session: Session,
    prints: Mapping[int, Fingerprints],
    *,
    guidelines: GuidelineSet | None = None,
) -> dict[int, BankMatch]:
    """The closest bank match of each item (by id) that has one.

    A PDQ entry matches within its own `distance`, else its policy's `pdq_distance`; a
    text entry when the estimated Jaccard reaches its policy's `text_jaccard` (short
    texts never match).
    """
    index = _index(session)
    if index is None:
        return {}

    def limits(policy: str) -> tuple[int, float]:
        if guidelines is not None and policy in guidelines:
            settings = guidelines.get(policy).clusters
            return settings.pdq_distance, settings.text_jaccard
        return _DEFAULT_PDQ, _DEFAULT_JACCARD

    widest = max(
        [limits(e.policy)[0] if e.distance is None else e.distance for e in index.entries.values()]
    )
    found: dict[int, BankMatch] = {}
    for item_id, mine in prints.items():
        best: BankMatch | None = None
        for pdq in mine.pdq:
            for entry_id, distance in index.pdq.search(pdq, widest):
                entry = index.entries[entry_id]
                allowed = entry.distance if entry.distance is not None else limits(entry.policy)[0]
                if distance <= allowed:
                    match = BankMatch(
                        entry_id, "pdq", entry.policy, entry.label, distance, 1 - distance / 256
                    )
                    if best is None or match.score > best.score:
                        best = match
                    break
        if mine.signature is not None and mine.words >= SHORT_TEXT_WORDS and index.signatures:
            seen: set[int] = set()
            for key in band_keys(mine.signature):
                for entry_id in index.bands.get(key, ()):
                    if entry_id in seen:
                        continue
                    seen.add(entry_id)
                    entry = index.entries[entry_id]
                    similarity = estimated_jaccard(mine.signature, index.signatures[entry_id])
                    if similarity >= limits(entry.policy)[1] and (
                        best is None or similarity > best.score
                    ):
                        best = BankMatch(
                            entry_id,
                            "text_minhash",
                            entry.policy,
                            entry.label,
                            round((1 - similarity) * 100),
                            similarity,
                        )
        if best is not None:
            found[item_id] = best
    return found
