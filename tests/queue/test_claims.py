"""Claiming, priority, leases, release, escalation, decisions and undo."""

from __future__ import annotations

import pytest
from sqlmodel import col, select

from modqueue import ClaimLost, InvalidState, LeaseExpired, UnknownLabel
from modqueue.queue import AuditEvent, Decision, OutboundAction, ReviewQueue
from tests.conftest import Clock, make_item
from tests.support.claims import claim_one


def test_claim_order_follows_priority(review_queue: ReviewQueue) -> None:
    review_queue.enqueue(
        [
            make_item(1, views=10, report_count=0),
            make_item(2, views=2_000_000, report_count=50),
            make_item(3, policy="hate", views=2_000_000, report_count=50),
        ]
    )
    first = review_queue.claim_next("alice")
    second = review_queue.claim_next("bob")
    third = review_queue.claim_next("carol")
    assert first is not None and second is not None and third is not None
    assert [first.item.external_id, second.item.external_id, third.item.external_id] == [
        "post-2",
        "post-3",
        "post-1",
    ]
    parts = first.breakdown["parts"]
    assert set(parts) == {"severity", "signal", "reports", "reach", "deadline"}
    assert parts["reach"]["input"] == 2_000_000
    assert first.priority == pytest.approx(sum(p["points"] for p in parts.values()), abs=0.01)
    assert review_queue.claim_next("dave") is None


def test_claim_filters_queues_and_skips_senior(review_queue: ReviewQueue) -> None:
    review_queue.enqueue([make_item(1), make_item(2, policy="hate")])
    got = review_queue.claim_next("alice", ["hate"])
    assert got is not None and got.queue == "hate"
    review_queue.escalate(got, "needs a senior")
    assert review_queue.claim_next("bob", ["hate"]) is None
    other = review_queue.claim_next("bob")
    assert other is not None and other.queue == "people-smuggling"
    senior = review_queue.claim_next("sam", ["hate:senior"])
    assert senior is not None and senior.item_id == got.item_id
    assert review_queue.stats()["escalated"] == 1


def test_decide_writes_decision_audit_and_action(review_queue: ReviewQueue, clock: Clock) -> None:
    claim = claim_one(review_queue)
    clock.advance(seconds=42)
    decision = review_queue.decide(claim, "remove-ban-refer", "clear ad, pay on arrival")
    guideline = review_queue.guidelines.get("people-smuggling")
    assert decision.guideline_version == guideline.version
    assert decision.seconds_spent == pytest.approx(42)
    assert decision.action == "refer_law_enforcement"
    with review_queue.session() as s:
        action = s.exec(select(OutboundAction)).one()
        assert action.status == "pending"
        assert action.reason == guideline.label("remove-ban-refer").title
        assert "pay on arrival" not in action.reason
        events = [e.event for e in s.exec(select(AuditEvent).order_by(col(AuditEvent.id)))]
    assert events == ["ingested", "claimed", "decided"]
    assert review_queue.get_item(1).status == "decided"
    with pytest.raises(ClaimLost):
        review_queue.decide(claim, "no-violation")


def test_no_action_for_none_label(review_queue: ReviewQueue) -> None:
    claim = claim_one(review_queue)
    review_queue.decide(claim, "no-violation")
    with review_queue.session() as s:
        assert s.exec(select(OutboundAction)).all() == []


def test_unknown_label_is_refused_and_claim_kept(review_queue: ReviewQueue) -> None:
    claim = claim_one(review_queue)
    with pytest.raises(UnknownLabel, match="not-a-label"):
        review_queue.decide(claim, "not-a-label")
    review_queue.decide(claim, "no-violation")


def test_expired_lease_is_refused(review_queue: ReviewQueue, clock: Clock) -> None:
    claim = claim_one(review_queue)
    clock.advance(seconds=review_queue.lease_seconds + 1)
    with pytest.raises(LeaseExpired):
        review_queue.decide(claim, "no-violation")
    assert review_queue.expire_leases() == 1
    with pytest.raises(LeaseExpired):
        review_queue.decide(claim, "no-violation")
    taken = review_queue.claim_next("bob")
    assert taken is not None and taken.item_id == claim.item_id
    with pytest.raises(ClaimLost):
        review_queue.decide(claim, "no-violation")


def test_renew_and_release(review_queue: ReviewQueue, clock: Clock) -> None:
    claim = claim_one(review_queue)
    clock.advance(seconds=200)
    renewed = review_queue.renew(claim)
    assert renewed.lease_expires_at > claim.lease_expires_at
    clock.advance(seconds=200)
    review_queue.release(renewed, note="not sure")
    assert review_queue.get_item(1).status == "pending"
    assert review_queue.expire_leases() == 0


def test_escalation_needs_note(review_queue: ReviewQueue) -> None:
    claim = claim_one(review_queue)
    with pytest.raises(InvalidState, match="note"):
        review_queue.escalate(claim, "  ")
    assert review_queue.escalate(claim, "possible child on board") == "people-smuggling:senior"


def test_escalate_label_moves_to_senior_queue(review_queue: ReviewQueue) -> None:
    claim = claim_one(review_queue)
    review_queue.decide(claim, "escalate")
    item = review_queue.get_item(1)
    assert (item.queue, item.status, item.escalated) == ("people-smuggling:senior", "pending", True)
    senior = review_queue.claim_next("sam", ["people-smuggling:senior"])
    assert senior is not None
    final = review_queue.decide(senior, "remove-ban-refer")
    assert final.kind == "senior"


def test_undo_cancels_pending_action(review_queue: ReviewQueue, clock: Clock) -> None:
    claim = claim_one(review_queue)
    decision = review_queue.decide(claim, "remove-ban-refer")
    with pytest.raises(Exception, match="another reviewer"):
        review_queue.undo(decision.id, "bob")
    again = review_queue.undo(decision.id, "alice")
    assert again.reviewer == "alice" and again.item_id == claim.item_id
    with review_queue.session() as s:
        assert s.exec(select(OutboundAction.status)).all() == ["cancelled"]
        assert s.exec(select(Decision.status)).all() == ["undone"]
    second = review_queue.decide(again, "no-violation")
    clock.advance(seconds=31)
    with pytest.raises(InvalidState, match="undo window"):
        review_queue.undo(second.id, "alice")


def test_stats_shape(review_queue: ReviewQueue, clock: Clock) -> None:
    review_queue.enqueue([make_item(1), make_item(2, policy="hate")])
    claim = review_queue.claim_next("alice", ["people-smuggling"])
    assert claim is not None
    review_queue.decide(claim, "remove-ban-refer")
    clock.advance(hours=30)
    stats = review_queue.stats()
    assert stats["pending"] == 1 and stats["decided"] == 1 and stats["claimed"] == 0
    assert stats["past_deadline"] == 1
    assert stats["by_queue"]["hate"]["pending"] == 1
    assert stats["by_queue"]["hate"]["oldest_pending_seconds"] == 30 * 3600
    assert stats["actions"]["pending"] == 1
