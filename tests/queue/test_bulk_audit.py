"""Large set decisions and audit batches, on both backends: the item counters and the
outbound action counters stay equal to a recount through decide, undo, decide and reverse
of a cluster (PostgreSQL moves
them from the update statement itself, migration `0021_bulkdecide_counted_moves`), a
batch of events past `COPY_FROM` (PostgreSQL: `COPY`) chains and verifies, and the
canonical JSON an event is hashed over is byte for byte the JSON of its values as the
column gives them back."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import col

from modqueue.queue import AuditEvent, Item, ReviewQueue, verify_chain
from modqueue.queue._audit.chain import COPY_FROM, AuditRecord, canonical_event, record_events
from tests.conftest import Clock, make_item
from tests.support.clusters import seed_cluster
from tests.support.counters import action_counters, action_recount, counters, recount

REMOVE = "remove-fake-documents"  # action remove_and_ban
MEMBERS = COPY_FROM + 20  # enough for the members' events to go by COPY on PostgreSQL


def _assert_consistent(q: ReviewQueue) -> None:
    assert counters(q) == recount(q)
    assert action_counters(q) == action_recount(q)
    with q.session() as s:
        report = verify_chain(s)
    assert report.ok, report


def test_a_large_cluster_keeps_counters_and_chain_through_undo_and_reverse(
    review_queue: ReviewQueue, clock: Clock
) -> None:
    q = review_queue
    # Distinct texts: digit-only differences would cluster and fold into a flood.
    words = ["amber", "birch", "cedar", "delta", "ember", "fjord", "grove", "heron"]
    lines = [
        make_item(n, text=" ".join(words[(n >> (3 * k)) % 8] for k in range(4)) + " sale")
        for n in range(MEMBERS)
    ]
    q.enqueue(lines)
    with q.session() as s:
        ids = [int(i or 0) for i in s.scalars(select(col(Item.id)).order_by(col(Item.id)))]
    assert len(ids) == MEMBERS
    cluster_id = seed_cluster(q, ids)
    _assert_consistent(q)

    made = q.decide_cluster(cluster_id, "alice", REMOVE)
    assert made.member_count == MEMBERS
    _assert_consistent(q)
    with q.session() as s:
        query = select(AuditEvent).where(col(AuditEvent.event) == "decided")
        decided = s.scalars(query.order_by(col(AuditEvent.id))).all()
    assert sorted(e.item_id or 0 for e in decided) == ids
    assert {e.detail["cluster_id"] for e in decided if e.detail} == {cluster_id}

    clock.advance(seconds=10)
    assert q.undo_cluster(made.id, "alice") == ids
    _assert_consistent(q)

    again = q.decide_cluster(cluster_id, "alice", REMOVE)
    clock.advance(minutes=5)
    back, _ = q.reverse_cluster(again.id, "sam", "not the same advert")
    assert back == ids
    _assert_consistent(q)
    # every member's takedown and its reverse action, counted by policy and status
    assert sum(action_counters(q).values()) >= 2 * MEMBERS


def _odd_detail(n: int) -> dict[str, Any]:
    """A detail with an int key (stored as the string "1") and a tuple."""
    odd: dict[Any, Any] = {"batch": (n, {"k": "v"}), "note": None, 1: "int key"}
    return odd


def test_a_large_batch_of_events_chains_and_verifies(review_queue: ReviewQueue) -> None:
    q = review_queue
    at = datetime(2026, 11, 24, 9, 0, 0, 123456, tzinfo=UTC)
    records = [
        AuditRecord(
            actor="ingest",
            event="ingested",
            at=at,
            item_id=None,
            after={"status": "pending", "n": n, "text": f"personal {n}"},
            detail=_odd_detail(n) if n % 7 == 0 else None,
        )
        for n in range(COPY_FROM * 2)
    ]
    q.run(lambda s: record_events(s, records))
    q.run(lambda s: record_events(s, records[:3]))  # a small batch after the large one
    with q.session() as s:
        rows = s.scalars(select(AuditEvent).order_by(col(AuditEvent.id))).all()
        report = verify_chain(s)
    assert report.ok, report
    assert len(rows) == COPY_FROM * 2 + 3
    assert rows[0].at == at
    assert rows[14].detail == {"batch": [14, {"k": "v"}], "note": None, "1": "int key"}
    # The personal text went to audit_personal, a digest in its place.
    assert rows[5].after is not None and set(rows[5].after["text"]) == {"personal"}


class _Colour(StrEnum):
    RED = "red"


@pytest.mark.parametrize(
    "value",
    [
        None,
        {},
        {"status": "pending", "queue": "people-smuggling", "n": 3, "x": 1.5, "ok": True},
        {"b": [1, (2, 3)], "a": {"z": None, "y": [{"q": "é☃"}]}},
        {10: "ten", 9: "nine"},  # int keys sort as strings once stored
        {"outer": {2: "two", "1": "one"}},
        {"list": [{3: "x"}], "colour": _Colour.RED, _Colour.RED: "key"},
        {"f": 1e16, "g": -0.0, "t": (), "u": "\u2028"},
    ],
)
def test_canonical_json_is_that_of_the_values_read_back(value: Any) -> None:
    """The hash covers the JSON of what the column gives back (keys strings, tuples
    lists), whatever shortcut computes it."""
    back = None if value is None else json.loads(json.dumps(value))
    expected = json.dumps(
        {
            "id": 7,
            "at": "2026-11-24T09:00:00.000001+00:00",
            "actor": "alice",
            "event": "decided",
            "item_id": 3,
            "before": back,
            "after": back,
            "detail": back,
            "prev_hash": "0" * 64,
            "chain": 2,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()
    got = canonical_event(
        id=7,
        chain=2,
        at=datetime(2026, 11, 24, 9, 0, 0, 1, tzinfo=UTC),
        actor="alice",
        event="decided",
        item_id=3,
        before=value,
        after=value,
        detail=value,
        prev_hash="0" * 64,
    )
    assert got == expected
