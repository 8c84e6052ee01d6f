"""Fingerprinting at ingest from the content ingest just stored (`new_items`) against
reading the items back, and the covering index of the candidate lookup (migration
0027), on both backends."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest
from alembic import command
from sqlalchemy import inspect, select, text
from sqlmodel import Session, col

from bench.flood_corpus import generate
from modqueue.queue import (
    FingerprintBand,
    FingerprintPdq,
    Item,
    ItemFingerprint,
    ItemIn,
    ReviewQueue,
    assign_clusters,
    ingest_batch,
)
from modqueue.queue._core.db import alembic_config
from tests.conftest import Clock, make_item

ADVERT = (
    "Boat to UK this Friday, 100% success, pay on arrival. Bring 3 friends and your place "
    "is free. Message the number in bio, call +44 7700 900123 for the price of 2500 euro."
)
COPY = (
    "boat to uk this SUNDAY!! 100% success, pay on arrival. bring 2 friends and your place "
    "is free. message the number in bio, call +44 7700 900999 for the price of 1900 euro"
)


@pytest.fixture(scope="module")
def flood() -> list[dict[str, Any]]:
    """A small flood corpus: copies with edited prices, dates, phones, spacing, words,
    and re-encoded images with their SHA-256 and PDQ."""
    items, _truth = generate(n=150, k=10)
    return items


def _ingest(
    url: str, clock: Clock, items: list[dict[str, Any]], *, read_back: bool
) -> dict[str, Any]:
    """Ingest `items` in batches of 50; `read_back`: without fingerprinting, then
    `assign_clusters` over the new ids (which reads the items back). Returns each
    item's cluster mates and stored fingerprint, band and PDQ rows, by external id."""
    queue = ReviewQueue(url, clock=clock)
    parsed = [ItemIn.model_validate(x) for x in items]
    for start in range(0, len(parsed), 50):
        chunk = parsed[start : start + 50]

        def store(session: Session, chunk: list[ItemIn] = chunk) -> None:
            ingest_batch(
                session,
                items=chunk,
                guidelines=queue.guidelines,
                now=clock(),
                fingerprint=not read_back,
            )
            if read_back:
                ids = [
                    i
                    for i in session.scalars(
                        select(col(Item.id)).where(
                            col(Item.external_id).in_([i.external_id for i in chunk])
                        )
                    )
                    if i is not None
                ]
                assign_clusters(session, item_ids=ids, guidelines=queue.guidelines, now=clock())

        queue.run(store)

    def read(session: Session) -> dict[str, Any]:
        names = dict(session.execute(select(col(Item.id), col(Item.external_id))).all())
        members: dict[int, set[str]] = defaultdict(set)
        homes: dict[str, int | None] = {}
        for item_id, cluster_id in session.execute(select(col(Item.id), col(Item.cluster_id))):
            homes[names[item_id]] = cluster_id
            if cluster_id is not None:
                members[cluster_id].add(names[item_id])
        return {
            "mates": {n: sorted(members[c]) if c else [] for n, c in homes.items()},
            "prints": sorted(
                (names[i], k, v)
                for i, k, v in session.execute(
                    select(
                        col(ItemFingerprint.item_id),
                        col(ItemFingerprint.kind),
                        col(ItemFingerprint.value),
                    )
                )
            ),
            "bands": sorted(
                (names[i], k)
                for i, k in session.execute(
                    select(col(FingerprintBand.item_id), col(FingerprintBand.key))
                )
            ),
            "pdq": sorted(
                (names[i], v)
                for i, v in session.execute(
                    select(col(FingerprintPdq.item_id), col(FingerprintPdq.value))
                )
            ),
        }

    found = queue.read(read)
    queue.close()
    return found


def test_ingest_fingerprints_what_it_stored_as_reading_back_would(
    database_url: str, second_database_url: str, clock: Clock, flood: list[dict[str, Any]]
) -> None:
    passed = _ingest(database_url, clock, flood, read_back=False)
    read_back = _ingest(second_database_url, clock, flood, read_back=True)
    assert passed == read_back
    assert any(passed["mates"].values())
    assert passed["pdq"]  # the corpus has images


def test_candidate_lookup_reads_the_covering_index(review_queue: ReviewQueue) -> None:
    q = review_queue
    q.enqueue([make_item(1, text=ADVERT), make_item(2, text=COPY)])
    indexes = {
        ix["name"]: ix["column_names"] for ix in inspect(q.engine).get_indexes("fingerprint_band")
    }
    assert indexes["ix_fingerprint_band_key_item"] == ["key", "item_id"]
    assert "ix_fingerprint_band_key" not in indexes
    if q.engine.dialect.name == "sqlite":
        with q.engine.connect() as conn:
            plan = conn.exec_driver_sql(
                "EXPLAIN QUERY PLAN SELECT key, item_id FROM fingerprint_band "
                "WHERE key IN (SELECT value FROM json_each('[1, 2]'))"
            ).all()
        assert any("COVERING INDEX ix_fingerprint_band_key_item" in str(row) for row in plan)


def test_migration_0027_down_and_up_keeps_the_candidates(database_url: str, clock: Clock) -> None:
    q = ReviewQueue(database_url, clock=clock)
    q.enqueue([make_item(1, text=ADVERT)])
    config = alembic_config(q.engine)
    command.downgrade(config, "0026_claim10m_claimable_policy")
    names = {ix["name"] for ix in inspect(q.engine).get_indexes("fingerprint_band")}
    assert "ix_fingerprint_band_key" in names
    assert "ix_fingerprint_band_key_item" not in names
    command.upgrade(config, "heads")
    names = {ix["name"] for ix in inspect(q.engine).get_indexes("fingerprint_band")}
    assert "ix_fingerprint_band_key_item" in names
    assert "ix_fingerprint_band_key" not in names
    with q.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM fingerprint_band")).scalar_one() > 0
    q.close()
    # A copy ingested after the round trip still finds the first item by its keys.
    again = ReviewQueue(database_url, clock=clock)
    again.enqueue([make_item(2, text=COPY)])
    with again.session() as s:
        homes = dict(s.execute(select(col(Item.external_id), col(Item.cluster_id))).all())
    assert homes["post-1"] is not None
    assert homes["post-1"] == homes["post-2"]
    again.close()
