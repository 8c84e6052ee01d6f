"""Appeals (upheld, overturned with reversal or cancellation) and gold accuracy."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlmodel import col, select

from modqueue._exceptions import InvalidState, NotFound, UnknownLabel
from modqueue.quality import (
    QualityConfig,
    add_gold,
    gold_accuracy,
    list_appeals,
    list_gold,
    open_appeal,
    quality_report,
    remove_gold,
)
from modqueue.queue import ActionStatus, Decision, OutboundAction, ReviewQueue
from tests.conftest import Clock, make_item

NEVER = QualityConfig(second_review_share=0.0)


@pytest.fixture
def queue(database_url: str, clock: Clock) -> Iterator[ReviewQueue]:
    q = ReviewQueue(database_url, clock=clock, quality=NEVER)
    yield q
    q.close()


def _decide(q: ReviewQueue, reviewer: str, label: str, queues: list[str] | None = None) -> int:
    got = q.claim_next(reviewer, queues)
    assert got is not None
    q.decide(got, label)
    return got.item_id


def _appeal(q: ReviewQueue, item_id: int, note: str = "the user says it is news") -> int:
    appeal = q.run(
        lambda s: open_appeal(s, item_id=item_id, note=note, actor="support", now=q.clock())
    )
    return appeal.id


def _actions(q: ReviewQueue, item_id: int) -> list[OutboundAction]:
    with q.session() as s:
        return list(
            s.exec(
                select(OutboundAction)
                .where(col(OutboundAction.item_id) == item_id)
                .order_by(col(OutboundAction.id))
            ).all()
        )


def _mark_sent(q: ReviewQueue, action_id: int | None) -> None:
    with q.session() as s:
        row = s.get(OutboundAction, action_id)
        assert row is not None
        row.status, row.attempts = ActionStatus.DONE, 1


def test_overturned_appeal_queues_the_reverse_action(queue: ReviewQueue) -> None:
    queue.enqueue([make_item(1)])
    item_id = _decide(queue, "alice", "remove-fake-documents")
    [original] = _actions(queue, item_id)
    _mark_sent(queue, original.id)
    _appeal(queue, item_id)
    item = queue.get_item(item_id)
    assert (item.queue, item.status, item.final_label) == (
        "people-smuggling:senior",
        "pending",
        "remove-fake-documents",
    )
    assert queue.claim_next("alice", ["people-smuggling:senior"]) is None  # not the decider
    _decide(queue, "sam", "news-or-safety-warning", ["people-smuggling:senior"])
    item = queue.get_item(item_id)
    assert (item.status, item.final_label) == ("decided", "news-or-safety-warning")
    actions = _actions(queue, item_id)
    assert [(a.action, a.status, a.reverses_id) for a in actions] == [
        ("remove_and_ban", "done", None),
        ("restore_and_unban", "pending", original.id),
    ]
    [appeal] = queue.run(lambda s: list_appeals(s))
    assert (appeal.status, appeal.decided_by, appeal.appealed_reviewer) == (
        "overturned",
        "sam",
        "alice",
    )
    with queue.session() as s:
        kinds = s.exec(
            select(col(Decision.kind), col(Decision.status))
            .where(col(Decision.item_id) == item_id)
            .order_by(col(Decision.id))
        ).all()
    assert [tuple(k) for k in kinds] == [("primary", "superseded"), ("appeal", "active")]


def test_overturn_before_sending_cancels_and_queues_the_new_action(queue: ReviewQueue) -> None:
    queue.enqueue([make_item(2)])
    item_id = _decide(queue, "alice", "restrict-testimonial")
    _appeal(queue, item_id)
    _decide(queue, "sam", "remove-ban-refer", ["people-smuggling:senior"])
    assert [(a.action, a.status, a.reverses_id) for a in _actions(queue, item_id)] == [
        ("restrict", "cancelled", None),
        ("refer_law_enforcement", "pending", None),
    ]


def test_upheld_appeal_changes_nothing_on_the_platform(queue: ReviewQueue) -> None:
    queue.enqueue([make_item(3)])
    item_id = _decide(queue, "alice", "remove-fake-documents")
    _appeal(queue, item_id)
    with pytest.raises(InvalidState, match="already under appeal"):
        _appeal(queue, item_id)
    _decide(queue, "sam", "remove-fake-documents", ["people-smuggling:senior"])
    assert [a.action for a in _actions(queue, item_id)] == ["remove_and_ban"]
    assert queue.run(quality_report)["appeals"] == {"open": 0, "upheld": 1, "overturned": 0}


def test_appeal_needs_a_decided_item_and_a_note(queue: ReviewQueue) -> None:
    queue.enqueue([make_item(4)])
    with pytest.raises(InvalidState, match="not decided"):
        _appeal(queue, 1)
    with pytest.raises(InvalidState, match="needs a note"):
        _appeal(queue, 1, note=" ")
    with pytest.raises(NotFound):
        _appeal(queue, 999)


def test_gold_accuracy_per_reviewer(queue: ReviewQueue) -> None:
    queue.enqueue([make_item(n) for n in range(1, 5)])

    def gold(item_id: int, label: str) -> None:
        queue.run(
            lambda s: add_gold(
                s,
                item_id=item_id,
                label=label,
                actor="lead",
                guidelines=queue.guidelines,
                now=queue.clock(),
            )
        )

    for item_id in (1, 2, 3):
        gold(item_id, "no-violation")
    with pytest.raises(UnknownLabel):
        gold(4, "not-a-label")
    with pytest.raises(InvalidState, match="escalates"):
        gold(4, "escalate")
    # Gold items look like any other: nothing in the claim says gold.
    first = queue.claim(1, "alice")
    assert "gold" not in str(first.to_dict())
    queue.decide(first, "no-violation")
    queue.decide(queue.claim(2, "alice"), "restrict-testimonial")
    queue.decide(queue.claim(3, "bob"), "no-violation")
    queue.decide(queue.claim(4, "bob"), "restrict-testimonial")  # not gold: not scored
    assert queue.run(gold_accuracy) == {
        "alice": {"answered": 2, "correct": 1, "accuracy": 0.5},
        "bob": {"answered": 1, "correct": 1, "accuracy": 1.0},
    }
    queue.run(lambda s: remove_gold(s, item_id=3, actor="lead", now=queue.clock()))
    assert [g.item_id for g in queue.run(list_gold)] == [1, 2]
