"""PDQ candidates from the in-memory index of `fingerprint_pdq` (`_items/pdq_store.py`),
on both backends: neighbours at distance 0, 1 and 31 join, 32 does not, in one batch and
across batches, queue objects (processes) and transactions; short captions beside images
keyed apart; migration 0023 moves stored PDQ chunk keys into `fingerprint_pdq` and back."""

from __future__ import annotations

import random
from typing import Any

import pytest
from alembic import command
from sqlalchemy import func, select, text
from sqlmodel import Session, col

from modqueue.queue import (
    FingerprintBand,
    FingerprintPdq,
    Item,
    ItemIn,
    ReviewQueue,
    ingest_batch,
)
from modqueue.queue._core.db import alembic_config
from tests.conftest import Clock, make_item

_BITS = random.Random(13).sample(range(256), 256)


def _flip(pdq: str, bits: list[int]) -> str:
    value = int(pdq, 16)
    for bit in bits:
        value ^= 1 << bit
    return f"{value:064x}"


def _spread(count: int, offset: int = 0) -> list[int]:
    """`count` bit positions, as evenly over the 16 chunks of 16 bits as they go (the
    hardest case for a chunk index: at distance 31 one chunk differs in one bit, every
    other in two), `offset` bits into each chunk."""
    return [16 * (n % 16) + offset + n // 16 for n in range(count)]


BASE = f"{random.Random(7).getrandbits(256):064x}"
NEIGHBOURS = {
    0: BASE,
    1: _flip(BASE, _spread(1, 4)),
    31: _flip(BASE, _spread(31)),
    32: _flip(BASE, _spread(32, 8)),
}


def _image(pdq: str) -> list[dict[str, Any]]:
    return [{"kind": "image", "url": "https://media.example.net/a.jpg", "pdq": pdq}]


def _clusters(q: ReviewQueue) -> dict[str, int | None]:
    with q.session() as s:
        return dict(s.execute(select(col(Item.external_id), col(Item.cluster_id))).all())


def _expect_neighbours(found: dict[str, int | None]) -> None:
    assert found["post-1"] is not None
    for n, distance in ((2, 0), (3, 1), (4, 31)):
        assert found[f"post-{n}"] == found["post-1"], distance
    assert found["post-5"] is None


def test_distances_pairwise_as_intended() -> None:
    base = int(BASE, 16)
    assert [(base ^ int(v, 16)).bit_count() for v in NEIGHBOURS.values()] == [0, 1, 31, 32]
    # The 32 neighbour is far from the others too, so it can only join through the base.
    far = int(NEIGHBOURS[32], 16)
    assert min((far ^ int(NEIGHBOURS[d], 16)).bit_count() for d in (1, 31)) > 32


@pytest.mark.parametrize("batch_size", [1, 100])
def test_pdq_neighbours_at_0_1_31_join_and_32_does_not(
    review_queue: ReviewQueue, batch_size: int
) -> None:
    q = review_queue
    items = [make_item(1, text=None, media=_image(BASE))]
    items += [
        make_item(n, text=None, media=_image(NEIGHBOURS[d]))
        for n, d in ((2, 0), (3, 1), (4, 31), (5, 32))
    ]
    q.enqueue(items, batch_size=batch_size)
    _expect_neighbours(_clusters(q))
    with q.session() as s:
        # One hash per cluster and value: the exact copy stores none.
        stored = s.execute(select(col(FingerprintPdq.value))).scalars().all()
        assert sorted(stored) == sorted({BASE, *NEIGHBOURS.values()})
        # No PDQ chunk keys in the band index any more.
        bands = s.scalar(select(func.count()).select_from(FingerprintBand))
        assert bands == 0


def test_rows_of_other_processes_are_found(database_url: str, clock: Clock) -> None:
    warm = ReviewQueue(database_url, clock=clock)
    # This queue's index is built (with an unrelated image) before the others write.
    other = _flip(BASE, list(range(0, 256, 2)))
    warm.enqueue([make_item(9, text=None, media=_image(other))])
    writer = ReviewQueue(database_url, clock=clock)
    writer.enqueue([make_item(1, text=None, media=_image(BASE))])
    writer.close()
    warm.enqueue([make_item(n, text=None, media=_image(NEIGHBOURS[d])) for n, d in ((4, 31),)])
    third = ReviewQueue(database_url, clock=clock)
    third.enqueue(
        [
            make_item(n, text=None, media=_image(NEIGHBOURS[d]))
            for n, d in ((2, 0), (3, 1), (5, 32))
        ],
        batch_size=1,
    )
    found = _clusters(third)
    _expect_neighbours(found)
    assert found["post-9"] is None
    third.close()
    warm.close()


def _items(*pairs: tuple[int, str]) -> list[ItemIn]:
    return [ItemIn.model_validate(make_item(n, text=None, media=_image(p))) for n, p in pairs]


def test_two_batches_in_one_transaction_and_a_rolled_back_one(review_queue: ReviewQueue) -> None:
    q = review_queue

    def both(session: Session) -> None:
        for batch in (_items((1, BASE)), _items((3, NEIGHBOURS[1]))):
            ingest_batch(session, items=batch, guidelines=q.guidelines, now=q.clock())

    q.run(both)
    found = _clusters(q)
    assert found["post-1"] is not None and found["post-3"] == found["post-1"]

    lost = _flip(BASE, list(range(1, 256, 2)))

    def rolled_back(session: Session) -> None:
        ingest_batch(session, items=_items((6, lost)), guidelines=q.guidelines, now=q.clock())
        raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        q.run(rolled_back)
    # Rows written after the rollback (on SQLite they take the ids it gave back) are
    # found by a later batch.
    kept = _flip(lost, [3])
    q.enqueue([make_item(7, text=None, media=_image(lost))])
    q.enqueue([make_item(8, text=None, media=_image(kept))])
    found = _clusters(q)
    assert "post-6" not in found
    assert found["post-7"] is not None and found["post-8"] == found["post-7"]


def test_short_captions_beside_images(review_queue: ReviewQueue) -> None:
    q = review_queue
    far = _flip(BASE, list(range(0, 256, 2)))
    q.enqueue(
        [
            make_item(1, text="look at this", media=_image(BASE)),
            make_item(2, text="Look at THIS!!", media=_image(far)),
        ],
        batch_size=1,
    )
    found = _clusters(q)
    # Two images under one short caption are no copies.
    assert found["post-1"] is None and found["post-2"] is None
    # The caption alone copies them (their keys are looked up under their own tag).
    q.enqueue([make_item(3, text="LOOK at this")])
    found = _clusters(q)
    assert found["post-3"] is not None
    assert found["post-3"] in (found["post-1"], found["post-2"])


def test_migration_moves_pdq_keys_and_back(database_url: str, clock: Clock) -> None:
    q = ReviewQueue(database_url, clock=clock)
    q.enqueue(
        [
            make_item(1, text=None, media=_image(BASE)),
            make_item(2, text=None, media=_image(NEIGHBOURS[1])),
            make_item(3, text=None, media=_image(NEIGHBOURS[1])),
            make_item(4, text=None, media=_image(NEIGHBOURS[32])),
        ]
    )
    before = _clusters(q)
    config = alembic_config(q.engine)
    command.downgrade(config, "0023_outcount_action_counters")
    with q.engine.connect() as conn:
        keys = conn.execute(
            text("SELECT count(*) FROM fingerprint_band WHERE key >= :a AND key < :b"),
            {"a": 2 << 56, "b": 3 << 56},
        ).scalar_one()
    assert keys == 16 * 3  # the chunk keys of the three stored hashes
    command.upgrade(config, "heads")
    with q.session() as s:
        values = s.execute(select(col(FingerprintPdq.value))).scalars().all()
        assert sorted(values) == sorted([BASE, NEIGHBOURS[1], NEIGHBOURS[32]])
        assert s.scalar(select(func.count()).select_from(FingerprintBand)) == 0
    q.close()
    # A new process after the migration finds the moved hashes.
    again = ReviewQueue(database_url, clock=clock)
    again.enqueue([make_item(5, text=None, media=_image(_flip(NEIGHBOURS[32], [9])))])
    found = _clusters(again)
    assert all(found[f"post-{n}"] == before[f"post-{n}"] for n in (1, 2, 3))
    assert before["post-4"] is None
    assert found["post-5"] is not None and found["post-5"] == found["post-4"]
    again.close()
