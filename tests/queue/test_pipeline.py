"""The decision pipeline: one road to the decision rows, whichever path it takes."""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlmodel import col

import modqueue
from modqueue.quality import QualityConfig, open_appeal
from modqueue.queue import (
    AuditEvent,
    Decision,
    Item,
    OutboundAction,
    ReviewQueue,
    reverse_decision,
)
from modqueue.queue._decisions import pipeline
from tests.conftest import Clock, make_item
from tests.support.clusters import seed_cluster

PACKAGE = Path(modqueue.__file__).parent
# Queue-internal modules that may write item rows besides the pipeline: leases (claim,
# renew, release, expire), ingest (new items), flood folding (folded status, an
# unreliable source's weight) and the deadline sweep (priority).
ITEM_WRITERS = {
    "queue/_claims/leases.py",
    "queue/_items/ingest.py",
    "queue/_items/floods.py",
    "queue/deadlines.py",
}
PIPELINE = "queue/_decisions/pipeline.py"
# The pipeline's set-based part and the cluster decisions built on it.
PIPELINE_MODULES = {PIPELINE, "queue/_decisions/bulk.py", "queue/_decisions/clusters.py"}


def _rows(q: ReviewQueue, item_id: int) -> dict[str, Any]:
    """What a decision left behind, without ids, keys and the item's own identity."""
    with q.session() as s:
        item = s.get_one(Item, item_id).model_dump(
            exclude={"id", "external_id", "text", "created_at"}
        )
        decisions = [
            d.model_dump(exclude={"id", "item_id"})
            for d in s.scalars(select(Decision).where(col(Decision.item_id) == item_id))
        ]
        actions = [
            a.model_dump(exclude={"id", "item_id", "decision_id", "external_id", "idempotency_key"})
            for a in s.scalars(select(OutboundAction).where(col(OutboundAction.item_id) == item_id))
        ]
        events = [
            (
                e.event,
                e.before,
                e.after,
                {
                    k: v
                    for k, v in (e.detail or {}).items()
                    if k not in ("decision_id", "outbound_action_id", "route")
                    and k != "outbound_action_ids"
                },
            )
            for e in s.scalars(
                select(AuditEvent)
                .where(col(AuditEvent.item_id) == item_id, col(AuditEvent.event) == "decided")
                .order_by(col(AuditEvent.id))
            )
        ]
        linked = [
            a.decision_id == d.id
            for d in s.scalars(select(Decision).where(col(Decision.item_id) == item_id))
            for a in s.scalars(select(OutboundAction).where(col(OutboundAction.item_id) == item_id))
        ]
    return {
        "item": item,
        "decisions": decisions,
        "actions": actions,
        "events": events,
        "linked": linked,
    }


@pytest.mark.parametrize("label", ["remove-fake-documents", "no-violation"])
def test_every_path_of_a_final_decision_writes_the_same_rows(
    review_queue: ReviewQueue, monkeypatch: pytest.MonkeyPatch, label: str
) -> None:
    """The common decision (one statement on PostgreSQL), the same as statements, and
    the same routed through `settle` (the path of second reviews, seniors, appeals)."""
    q = review_queue
    q.enqueue([make_item(n) for n in (1, 2, 3)])
    claims = {n: q.claim(n, "alice") for n in (1, 2, 3)}
    q.decide(claims[1], label, "note")
    monkeypatch.setattr(pipeline, "ONE_STATEMENT", False)
    q.decide(claims[2], label, "note")
    # The settled path: the sample says "second review" to decide(), while settle() (its
    # own rule, share 0 here) finds the decision final.
    monkeypatch.setattr(pipeline, "sampled_for_second_review", lambda *a: True)
    q.decide(claims[3], label, "note")
    one, statements, settled = (_rows(q, n) for n in (1, 2, 3))
    assert one["item"]["status"] == "decided"
    assert len(one["actions"]) == (1 if label == "remove-fake-documents" else 0)
    assert all(one["linked"])
    assert one == statements
    assert one == settled


def test_undo_of_a_second_review_records_the_second_review_queue_before(
    database_url: str, clock: Clock
) -> None:
    # Every decision sampled: the test is about undoing one that went to second review.
    with ReviewQueue(
        database_url, clock=clock, quality=QualityConfig(second_review_share=1.0)
    ) as q:
        q.enqueue([make_item(1)])
        claim = q.claim_next("alice")
        assert claim is not None
        decision = q.decide(claim, "no-violation")
        assert q.get_item(claim.item_id).queue == "people-smuggling:second"
        again = q.undo(decision.id, "alice")
        assert again.queue == "people-smuggling"
        with q.session() as s:
            undone = s.scalars(select(AuditEvent).where(col(AuditEvent.event) == "undone")).one()
        assert undone.before == {
            "status": "pending",
            "queue": "people-smuggling:second",
            "label": None,
        }
        assert undone.after == {"status": "claimed", "queue": "people-smuggling"}


@pytest.fixture
def writes(review_queue: ReviewQueue) -> Iterator[list[tuple[str, list[str]]]]:
    """Every INSERT or UPDATE on item, decision and outbound_action, with the modqueue
    modules on the stack when it was sent."""
    seen: list[tuple[str, list[str]]] = []

    def listen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        head = " ".join(statement.split()[:3]).lower()
        for table in ("item", "decision", "outbound_action"):
            if head.startswith((f"insert into {table} ", f"update {table} ")) or head in (
                f"insert into {table}",
                f"update {table} set",
            ):
                stack = traceback.extract_stack()
                mods = [
                    Path(f.filename).relative_to(PACKAGE).as_posix()
                    for f in stack
                    if PACKAGE in Path(f.filename).parents
                ]
                seen.append((table, mods))

    event.listen(review_queue.engine, "before_cursor_execute", listen)
    yield seen
    event.remove(review_queue.engine, "before_cursor_execute", listen)


def test_every_entry_point_writes_decision_rows_through_the_pipeline(
    review_queue: ReviewQueue, writes: list[tuple[str, list[str]]]
) -> None:
    q = review_queue
    q.enqueue([make_item(n) for n in (1, 2, 3)])
    first = q.claim(1, "alice")
    q.decide(first, "remove-fake-documents")
    q.escalate(q.claim(2, "alice"), "needs a senior")
    senior = q.claim_next("sam", ["people-smuggling:senior"])
    assert senior is not None
    q.decide(senior, "no-violation")
    undo_me = q.decide(q.claim(3, "alice"), "restrict-testimonial")
    q.undo(undo_me.id, "alice")
    q.run(
        lambda s: open_appeal(
            s, item_id=1, note="the user says it is news", actor="bob", now=q.clock()
        )
    )
    appeal = q.claim_next("sue", ["people-smuggling:senior"])
    assert appeal is not None
    q.decide(appeal, "no-violation")
    q.run(lambda s: reverse_decision(s, item_id=3, reviewer="lead", note="test", now=q.clock()))
    q.enqueue([make_item(n) for n in (4, 5, 6)])
    seen = len(writes)
    cluster = seed_cluster(q, [4, 5, 6])
    del writes[seen:]  # the test's own seeding of cluster membership
    made = q.decide_cluster(cluster, "alice", "remove-fake-documents")
    q.undo_cluster(made.id, "alice")
    made = q.decide_cluster(cluster, "alice", "remove-fake-documents")
    q.reverse_cluster(made.id, "sam", "test")
    q.split_from_cluster(4, "alice")
    outside = [
        (table, mods)
        for table, mods in writes
        if not any(m in PIPELINE_MODULES or m in ITEM_WRITERS for m in mods)
    ]
    assert outside == []
    decision_rows = [mods for table, mods in writes if table in ("decision", "outbound_action")]
    assert decision_rows
    assert all(PIPELINE_MODULES & set(mods) for mods in decision_rows)
    assert any(table == "outbound_action" for table, _ in writes)
