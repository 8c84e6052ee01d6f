"""Fingerprints at ingest and cluster assignment (`assign_clusters`), on both backends."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlmodel import col

from modqueue.guidelines import bundled_guidelines_dir, load_guidelines
from modqueue.queue import (
    ContentCluster,
    FingerprintBand,
    Item,
    ItemFingerprint,
    ReviewQueue,
    ingest_jsonl,
)
from tests.conftest import Clock, make_item

ADVERT = (
    "Boat to UK this Friday, 100% success, pay on arrival. Bring 3 friends and your place "
    "is free. Message the number in bio, call +44 7700 900123 for the price of 2500 euro."
)
COPY_1 = (
    "boat to uk this SUNDAY!! 100% success, pay on arrival. bring 2 friends and your place "
    "is free. message the number in bio, call +44 7700 900999 for the price of 1900 euro 🚤"
)
COPY_2 = (
    "Boat to UK this Friday,   100% success, pay on arrival. Bring 5 friends and your spot "
    "is free. Message the number in bio, call 07700 900555 for the price of 3000 euro."
)
OTHER = (
    "Our charity runs safety workshops about the dangers of small boat crossings; the "
    "coastguard warns that overloaded dinghies capsize and people drown every winter."
)
PDQ_A = "f" * 16 + "0" * 48
PDQ_NEAR = "e" * 8 + "f" * 8 + "0" * 48  # 8 bits away
PDQ_FAR = "0" * 16 + "f" * 16 + "0" * 32  # 128 bits away


def _clusters(q: ReviewQueue) -> dict[str, int | None]:
    with q.session() as s:
        return {
            i.external_id: i.cluster_id
            for i in s.scalars(select(Item).order_by(Item.id))  # type: ignore[arg-type]
        }


def test_near_duplicate_texts_join_one_cluster(review_queue: ReviewQueue) -> None:
    q = review_queue
    q.enqueue(
        [
            make_item(1, text=ADVERT, views=10),
            make_item(2, text=COPY_1, views=20),
            make_item(3, text=OTHER),
            make_item(4, text=COPY_2),
        ]
    )
    found = _clusters(q)
    assert found["post-1"] is not None
    assert found["post-1"] == found["post-2"] == found["post-4"]
    assert found["post-3"] is None
    with q.session() as s:
        cluster = s.get_one(ContentCluster, found["post-1"])
        first = s.scalar(select(col(Item.id)).where(col(Item.external_id) == "post-1"))
        assert cluster.member_count == 3
        assert cluster.representative_item_id == first
        assert cluster.policy == "people-smuggling"
        assert cluster.status == "open"
        kinds = set(s.scalars(select(col(ItemFingerprint.kind))))
        assert kinds == {"text_minhash"}


def test_copies_in_later_batches_and_other_processes_join(database_url: str, clock: Clock) -> None:
    first = ReviewQueue(database_url, clock=clock)
    first.enqueue([make_item(1, text=ADVERT), make_item(2, text=OTHER)])
    first.close()
    # A separate queue object (another process: nothing shared but the database).
    second = ReviewQueue(database_url, clock=clock)
    second.enqueue([make_item(3, text=COPY_1)], batch_size=1)
    second.enqueue([make_item(4, text=COPY_2), make_item(5, text=ADVERT)], batch_size=1)
    found = _clusters(second)
    assert found["post-1"] is not None
    assert found["post-1"] == found["post-3"] == found["post-4"] == found["post-5"]
    assert found["post-2"] is None
    with second.session() as s:
        assert s.get_one(ContentCluster, found["post-1"]).member_count == 4
        # An exact copy brings no new candidate keys: its cluster already has them all.
        exact = s.scalar(select(col(Item.id)).where(col(Item.external_id) == "post-5"))
        assert s.scalar(select(func.count()).where(col(FingerprintBand.item_id) == exact)) == 0
    second.close()


def test_reingest_changes_no_cluster(review_queue: ReviewQueue) -> None:
    q = review_queue
    q.enqueue([make_item(1, text=ADVERT), make_item(2, text=COPY_1)])
    q.enqueue([make_item(1, text=ADVERT, views=500), make_item(2, text=COPY_1)])
    with q.session() as s:
        assert s.scalar(select(func.count()).select_from(ContentCluster)) == 1
        assert s.scalar(select(col(ContentCluster.member_count))) == 2
        assert s.scalar(select(func.count()).select_from(ItemFingerprint)) == 2


def test_copies_under_another_policy_stay_apart(review_queue: ReviewQueue) -> None:
    q = review_queue
    q.enqueue([make_item(1, text=ADVERT), make_item(2, text=COPY_1, policy="drug-supply")])
    assert set(_clusters(q).values()) == {None}


def test_short_texts_match_only_when_identical(review_queue: ReviewQueue) -> None:
    q = review_queue
    q.enqueue(
        [
            make_item(1, text="dm me now"),
            make_item(2, text="DM me NOW!!! 07700 900123"),
            make_item(3, text="dm me later"),
        ]
    )
    found = _clusters(q)
    assert found["post-1"] is not None and found["post-1"] == found["post-2"]
    assert found["post-3"] is None


def _media(**hashes: Any) -> list[dict[str, Any]]:
    return [{"kind": "image", "url": "https://media.example.net/a.jpg", **hashes}]


def test_media_digest_and_pdq_match(review_queue: ReviewQueue) -> None:
    q = review_queue
    digest = "ab" * 32
    q.enqueue(
        [
            make_item(1, text="first caption about something", media=_media(sha256=digest)),
            make_item(2, text="an unrelated caption entirely", media=_media(sha256=digest)),
            make_item(3, text=None, media=_media(pdq=PDQ_A)),
            make_item(4, text=None, media=_media(pdq=PDQ_NEAR.upper())),
            make_item(5, text=None, media=_media(pdq=PDQ_FAR)),
        ]
    )
    found = _clusters(q)
    assert found["post-1"] is not None and found["post-1"] == found["post-2"]
    assert found["post-3"] is not None and found["post-3"] == found["post-4"]
    assert found["post-3"] != found["post-1"]
    assert found["post-5"] is None
    with q.session() as s:
        stored = s.scalar(select(col(Item.media)).where(col(Item.external_id) == "post-4"))
        assert stored == _media(pdq=PDQ_NEAR)


def _guidelines_with(tmp_path: Path, clusters_block: str) -> Path:
    folder = tmp_path / "guidelines"
    shutil.copytree(bundled_guidelines_dir(), folder)
    doc = folder / "people-smuggling.md"
    text = doc.read_text(encoding="utf-8")
    doc.write_text(text.replace("\nlabels:\n", f"\n{clusters_block}labels:\n", 1), "utf-8")
    return folder


def test_guideline_thresholds_apply(database_url: str, clock: Clock, tmp_path: Path) -> None:
    folder = _guidelines_with(tmp_path, "clusters:\n  text_jaccard: 1.0\n  pdq_distance: 4\n")
    assert load_guidelines(folder).get("people-smuggling").clusters.pdq_distance == 4
    q = ReviewQueue(database_url, clock=clock, guidelines=folder)
    q.enqueue(
        [
            make_item(1, text=ADVERT),
            make_item(2, text=COPY_2),
            make_item(3, text=None, media=_media(pdq=PDQ_A)),
            make_item(4, text=None, media=_media(pdq=PDQ_NEAR)),
            make_item(5, text=ADVERT.upper()),
        ]
    )
    found = _clusters(q)
    q.close()
    assert found["post-2"] is None
    assert found["post-3"] is None and found["post-4"] is None
    assert found["post-1"] is not None and found["post-1"] == found["post-5"]


@pytest.mark.parametrize(
    ("media", "reason"),
    [
        (_media(pdq="abc"), "media.0.pdq: expected 64 hex digits"),
        (_media(sha256="g" * 64), "media.0.sha256: expected 64 hex digits"),
        (_media(sha256=12), "media.0.sha256: expected 64 hex digits"),
    ],
)
def test_bad_hashes_are_rejected_with_their_line(
    review_queue: ReviewQueue, media: list[dict[str, Any]], reason: str
) -> None:
    lines = [make_item(1), make_item(2), make_item(3, media=media), make_item(4)]
    stream = io.BytesIO(b"".join(json.dumps(x).encode() + b"\n" for x in lines))
    report = ingest_jsonl(review_queue, stream)
    assert report.new == 3
    assert [(r.position, r.reason) for r in report.rejected] == [(3, reason)]
