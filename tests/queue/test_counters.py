"""`queue_counter` and `action_counter`: the counts the database keeps per queue and status
(and per policy and status of outbound actions) equal a full
recount of `item` after a mixed workload, and the migration backfills them."""

from __future__ import annotations

import io
import json
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import delete, select, update
from sqlmodel import SQLModel, col

import modqueue
from modqueue.queue import Item, OutboundAction, ReviewQueue, ingest_jsonl, ingest_values
from tests.conftest import Clock, make_item
from tests.support.counters import action_counters, action_recount, counters, recount

MIGRATIONS = Path(modqueue.__file__).parent / "migrations"


def test_counters_equal_a_recount_after_a_mixed_workload(
    review_queue: ReviewQueue, clock: Clock
) -> None:
    q = review_queue
    lines = [make_item(n) for n in range(1, 31)]
    lines += [make_item(n, policy=None, text=f"nothing to route {n}") for n in range(31, 36)]
    lines += [make_item(n, policy="hate") for n in range(36, 41)]
    ingest_jsonl(q, io.BytesIO("\n".join(json.dumps(v) for v in lines).encode()))
    q.enqueue([make_item(n) for n in range(41, 46)])
    # Merges, one of which gives a triage item its policy (a queue move).
    q.enqueue([make_item(31, policy="people-smuggling"), make_item(2, views=10**6)])
    assert counters(q) == recount(q)

    for _ in range(12):
        claim = q.claim_next("alice")
        assert claim is not None
        q.decide(claim, "remove-fake-documents")
    released = q.claim_next("bob")
    assert released is not None
    q.release(released, "not mine")
    renewed = q.claim_next("bob")
    assert renewed is not None
    q.renew(renewed)
    escalated = q.claim_next("carol")
    assert escalated is not None
    q.escalate(escalated, "needs a senior")
    undo_me = q.claim_next("dave")
    assert undo_me is not None
    decision = q.decide(undo_me, "no-violation")
    q.undo(decision.id, "dave")
    open_claim = q.claim_next("erin")  # left claimed
    assert open_claim is not None
    clock.advance(hours=30)

    kept, counted = counters(q), recount(q)
    assert kept == counted
    statuses = {status for _, status in kept}
    assert {"pending", "claimed", "decided"} <= statuses
    assert any(queue.endswith(":senior") for queue, _ in kept)
    stats = q.stats()
    assert stats["decided"] == sum(n for (_, s), n in counted.items() if s == "decided")
    assert stats["pending"] == sum(n for (_, s), n in counted.items() if s == "pending")
    assert stats["claimed"] == sum(n for (_, s), n in counted.items() if s == "claimed")

    with q.session() as s:  # a delete is counted too (its fingerprints go first)
        gone = s.scalar(select(col(Item.id)).where(col(Item.external_id) == "post-45"))
        for table in SQLModel.metadata.sorted_tables:
            if any(fk.column.table.name == "item" for fk in table.foreign_keys):
                s.execute(delete(table).where(table.c.item_id == gone))
        s.execute(delete(Item).where(col(Item.id) == gone))
    assert counters(q) == recount(q)


def test_migration_backfills_counters_from_stored_items(review_queue: ReviewQueue) -> None:
    q = review_queue
    q.enqueue([make_item(n) for n in range(1, 8)] + [make_item(9, policy="hate")])
    claim = q.claim_next("alice")
    assert claim is not None
    q.decide(claim, "remove-fake-documents")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = q.engine
    ingest_values(q, [make_item(n) for n in range(10, 13)], fingerprint=False)
    # Down to before the counters (their table goes) and up again: the migration counts
    # every stored item afresh. (Today's ingest writes today's columns, so the items are
    # stored before the downgrade.)
    command.downgrade(config, "0018_clusterdesk_floods")
    command.upgrade(config, "head")
    assert counters(q) == recount(q)
    assert sum(counters(q).values()) == 11


def test_action_counters_follow_inserts_moves_and_deletes_and_the_migration_backfills_them(
    review_queue: ReviewQueue,
) -> None:
    q = review_queue
    q.enqueue([make_item(n) for n in range(1, 9)])
    for _ in range(5):
        claim = q.claim_next("alice")
        assert claim is not None
        q.decide(claim, "remove-fake-documents")  # a takedown: one outbox row each
    claim = q.claim_next("alice")
    assert claim is not None
    decision = q.decide(claim, "remove-fake-documents")
    q.undo(decision.id, "alice")
    assert action_counters(q) == action_recount(q)
    assert sum(action_counters(q).values()) >= 5

    with q.session() as s:  # a status move and a delete, whoever writes them
        first = s.scalar(select(col(OutboundAction.id)).order_by(col(OutboundAction.id)))
        s.execute(
            update(OutboundAction).where(col(OutboundAction.id) == first).values(status="done")
        )
        last = s.scalar(select(col(OutboundAction.id)).order_by(col(OutboundAction.id).desc()))
        s.execute(delete(OutboundAction).where(col(OutboundAction.id) == last))
    counted = action_recount(q)
    assert action_counters(q) == counted
    assert counted[("people-smuggling", "done")] == 1
    stats = q.stats()
    assert stats["actions"]["done"] == 1
    assert sum(stats["actions"].values()) == sum(counted.values())

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = q.engine
    claim = q.claim_next("bob")
    assert claim is not None
    command.downgrade(config, "0022_scale_read_indexes")
    # An action written while there are no counters: by hand, as today's decision module
    # writes columns (`decision.after_deadline`) a database at 0022 does not have yet.
    with q.session() as s:
        s.add(
            OutboundAction(
                item_id=claim.item_id,
                action="remove_and_ban",
                source=claim.item.source,
                external_id=claim.item.external_id,
                policy="people-smuggling",
                label="remove-fake-documents",
                idempotency_key="written-at-0022",
            )
        )
    command.upgrade(config, "head")
    assert action_counters(q) == action_recount(q)
    assert sum(action_counters(q).values()) == sum(counted.values()) + 1
