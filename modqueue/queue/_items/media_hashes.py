"""Media hashes computed here: image bytes to SHA-256 and PDQ, and the record of each
fetch on the item's media entry.

An item's image entries that arrive without `sha256` or `pdq` are marked pending at
ingest (an `item_fingerprint` row of kind `media_pending`). The `[media]` job in
`modqueue serve` asks for them (`media_to_fetch`), fetches each image with the safe
fetcher, hashes the bytes in memory (`hash_image`) and drops them, then records the
outcome (`record_media_results`): the hashes, or `fetch_error` (with `fetch_attempts`)
on the media entry. A refused or oversized image is final at once; other failures
(timeouts, HTTP errors) are tried `MAX_FETCH_ATTEMPTS` times. The item is then
fingerprinted again, so a copy of a known image joins its cluster.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pdqhash
from PIL import Image
from sqlalchemy import delete, select, update
from sqlmodel import Session, col

from modqueue.guidelines import GuidelineSet
from modqueue.queue._core.match_models import FingerprintBand, FingerprintPdq, ItemFingerprint
from modqueue.queue._core.models import Item
from modqueue.queue._items.clustering import assign_clusters
from modqueue.queue._items.fingerprints import needs_fetch

__all__ = [
    "MAX_FETCH_ATTEMPTS",
    "MIN_PDQ_QUALITY",
    "MediaResult",
    "MediaToFetch",
    "hash_image",
    "media_to_fetch",
    "needs_fetch",
    "record_media_results",
]

MAX_FETCH_ATTEMPTS = 3
"""Tries of a media URL whose fetch failed for a reason that may pass."""
MIN_PDQ_QUALITY = 50
"""A PDQ hash of lower quality (flat or tiny images) is not kept: it would match
unrelated images (ThreatExchange's cut-off)."""
_MAX_SIDE = 1024
_MAX_PIXELS = 64_000_000


def hash_image(content: bytes) -> tuple[str, str | None, int]:
    """SHA-256 (hex) of `content`, its PDQ hash (64 hex digits, `None` below
    `MIN_PDQ_QUALITY` or when the bytes are no image Pillow can read) and the PDQ
    quality (0..100)."""
    digest = hashlib.sha256(content).hexdigest()
    try:
        with Image.open(io.BytesIO(content)) as image:
            width, height = image.size
            if width * height > _MAX_PIXELS:
                return digest, None, 0
            image.draft("RGB", (_MAX_SIDE, _MAX_SIDE))
            rgb = image.convert("RGB")
            rgb.thumbnail((_MAX_SIDE, _MAX_SIDE))
            pixels = np.asarray(rgb)
    except (OSError, ValueError, Image.DecompressionBombError):
        return digest, None, 0
    vector, quality = pdqhash.compute(pixels)
    bits = np.packbits(np.asarray(vector, dtype=np.uint8))
    pdq = bits.tobytes().hex()
    return digest, (pdq if quality >= MIN_PDQ_QUALITY else None), int(quality)


@dataclass(frozen=True, slots=True)
class MediaToFetch:
    """One image to fetch: the item, the entry's index in its media list, the URL."""

    item_id: int
    index: int
    url: str


@dataclass(frozen=True, slots=True)
class MediaResult:
    """What fetching one image gave: the hashes, or an error (`final`: not worth
    another try)."""

    item_id: int
    index: int
    sha256: str | None = None
    pdq: str | None = None
    quality: int | None = None
    error: str | None = None
    final: bool = False


def media_to_fetch(session: Session, *, limit: int = 100) -> list[MediaToFetch]:
    """Images waiting for their hashes, oldest items first, at most `limit` items."""
    ids = list(
        session.scalars(
            select(col(ItemFingerprint.item_id))
            .where(col(ItemFingerprint.kind) == "media_pending")
            .order_by(col(ItemFingerprint.item_id))
            .limit(limit)
        )
    )
    if not ids:
        return []
    wanted = []
    for item_id, media in session.execute(
        select(col(Item.id), col(Item.media)).where(col(Item.id).in_(ids)).order_by(col(Item.id))
    ):
        for index, entry in enumerate(media or []):
            if needs_fetch(entry):
                wanted.append(MediaToFetch(item_id, index, str(entry["url"])))
    return wanted


def record_media_results(
    session: Session,
    *,
    results: Sequence[MediaResult],
    guidelines: GuidelineSet | None = None,
    now: datetime | None = None,
) -> list[int]:
    """Write fetch outcomes onto the items' media entries and fingerprint the items again
    (`assign_clusters`); returns the cluster ids touched.

    A hash replaces nothing the platform sent; an error is kept as `fetch_error` once
    final or after `MAX_FETCH_ATTEMPTS` tries (`fetch_attempts` counts them).
    """
    by_item: dict[int, list[MediaResult]] = {}
    for result in results:
        by_item.setdefault(result.item_id, []).append(result)
    if not by_item:
        return []
    changes = []
    for item_id, media in session.execute(
        select(col(Item.id), col(Item.media)).where(col(Item.id).in_(sorted(by_item)))
    ):
        entries = [dict(e) for e in media or []]
        for result in by_item[item_id]:
            if result.index >= len(entries):
                continue
            entry = entries[result.index]
            if result.error is None:
                entry.pop("fetch_error", None)
                if result.sha256 and not entry.get("sha256"):
                    entry["sha256"] = result.sha256
                if result.pdq and not entry.get("pdq"):
                    entry["pdq"] = result.pdq
                if result.quality is not None:
                    entry["pdq_quality"] = result.quality
                continue
            attempts = int(entry.get("fetch_attempts", 0)) + 1
            entry["fetch_attempts"] = attempts
            if result.final or attempts >= MAX_FETCH_ATTEMPTS:
                entry["fetch_error"] = result.error[:500]
        changes.append({"id": item_id, "media": entries})
    if not changes:
        return []
    session.execute(update(Item), changes)
    ids = [c["id"] for c in changes]
    session.execute(delete(ItemFingerprint).where(col(ItemFingerprint.item_id).in_(ids)))
    session.execute(delete(FingerprintBand).where(col(FingerprintBand.item_id).in_(ids)))
    session.execute(delete(FingerprintPdq).where(col(FingerprintPdq.item_id).in_(ids)))
    return assign_clusters(session, item_ids=ids, guidelines=guidelines, now=now)
