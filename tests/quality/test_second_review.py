"""Blind second review: sampling, exclusion of the first reviewer, agreement, senior."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlmodel import col, select

from modqueue._exceptions import PermissionDenied
from modqueue.config import load_config
from modqueue.quality import QualityConfig, QueueQualityConfig, sampled_for_second_review
from modqueue.queue import Decision, OutboundAction, ReviewQueue
from tests.conftest import Clock, make_item

ALWAYS = QualityConfig(second_review_share=1.0)


@pytest.fixture
def queue(database_url: str, clock: Clock) -> Iterator[ReviewQueue]:
    q = ReviewQueue(database_url, clock=clock, quality=ALWAYS)
    yield q
    q.close()


def _decisions(q: ReviewQueue, item_id: int) -> list[tuple[str, str, str]]:
    with q.session() as s:
        rows = s.exec(
            select(Decision).where(col(Decision.item_id) == item_id).order_by(col(Decision.id))
        ).all()
        return [(d.reviewer, d.label, d.kind) for d in rows]


def _actions(q: ReviewQueue, item_id: int) -> list[tuple[str, str]]:
    with q.session() as s:
        rows = s.exec(
            select(OutboundAction)
            .where(col(OutboundAction.item_id) == item_id)
            .order_by(col(OutboundAction.id))
        ).all()
        return [(a.action, a.status) for a in rows]


def test_sampling_is_deterministic_and_near_the_share() -> None:
    ids = [f"post-{n}" for n in range(2000)]
    first = [sampled_for_second_review("platform-reports", i, 0.1) for i in ids]
    again = [sampled_for_second_review("platform-reports", i, 0.1) for i in ids]
    assert first == again
    assert 150 <= sum(first) <= 250  # 10% of 2000 = 200 (fixed inputs, fixed outcome)
    assert not any(sampled_for_second_review("s", i, 0.0) for i in ids[:50])
    assert all(sampled_for_second_review("s", i, 1.0) for i in ids[:50])


def test_default_share_and_per_queue_override(tmp_path) -> None:
    assert QualityConfig().share_for("hate") == 0.1
    path = tmp_path / "modqueue.toml"
    path.write_text(
        "[quality]\nsecond_review_share = 0.2\n[quality.queues.doxxing]\n"
        "second_review_share = 0.5\n"
    )
    config = load_config(path)
    assert config.quality.share_for("hate") == 0.2
    assert config.quality.share_for("doxxing") == 0.5
    path.write_text("[quality]\nsecond_review_share = 1.5\n")
    with pytest.raises(Exception, match=r"quality.second_review_share"):
        load_config(path)


def test_agreeing_second_review_makes_the_label_final(queue: ReviewQueue) -> None:
    queue.enqueue([make_item(1)])
    first = queue.claim_next("alice")
    assert first is not None
    queue.decide(first, "restrict-testimonial", note="alice's private note")
    item = queue.get_item(first.item_id)
    assert (item.queue, item.status, item.final_label) == (
        "people-smuggling:second",
        "pending",
        None,
    )
    assert _actions(queue, first.item_id) == []  # nothing acted on before the label is final
    # The first reviewer never gets it back, by claim_next or by id.
    assert queue.claim_next("alice") is None
    with pytest.raises(PermissionDenied, match="other than alice"):
        queue.claim(first.item_id, "alice")
    # Working the policy's queue includes its second reviews.
    second = queue.claim_next("bob", ["people-smuggling"])
    assert second is not None and second.queue == "people-smuggling:second"
    # Blind: nothing in the claim carries the first label, reviewer or note.
    dumped = json.dumps(second.to_dict())
    for secret in ("restrict-testimonial", "alice", "private note"):
        assert secret not in dumped
    assert second.item.final_label is None
    decision = queue.decide(second, "restrict-testimonial")
    assert decision.kind == "second_review"
    item = queue.get_item(first.item_id)
    assert (item.status, item.final_label) == ("decided", "restrict-testimonial")
    assert _actions(queue, first.item_id) == [("restrict", "pending")]
    assert _decisions(queue, first.item_id) == [
        ("alice", "restrict-testimonial", "primary"),
        ("bob", "restrict-testimonial", "second_review"),
    ]


def test_disagreement_goes_to_a_senior_whose_label_is_final(queue: ReviewQueue) -> None:
    queue.enqueue([make_item(2)])
    first = queue.claim_next("alice")
    assert first is not None
    queue.decide(first, "remove-fake-documents")
    second = queue.claim_next("bob")
    assert second is not None
    queue.decide(second, "news-or-safety-warning")
    item = queue.get_item(first.item_id)
    assert (item.queue, item.status, item.escalated) == ("people-smuggling:senior", "pending", True)
    assert _actions(queue, first.item_id) == []
    # Neither earlier reviewer may settle their own disagreement.
    assert queue.claim_next("alice", ["people-smuggling:senior"]) is None
    assert queue.claim_next("bob", ["people-smuggling:senior"]) is None
    senior = queue.claim_next("sam", ["people-smuggling:senior"])
    assert senior is not None
    assert queue.decide(senior, "remove-fake-documents").kind == "senior"
    item = queue.get_item(first.item_id)
    assert (item.status, item.final_label) == ("decided", "remove-fake-documents")
    assert _actions(queue, first.item_id) == [("remove_and_ban", "pending")]
    assert [k for _, _, k in _decisions(queue, first.item_id)] == [
        "primary",
        "second_review",
        "senior",
    ]


def test_unsampled_decisions_are_final_at_once(database_url: str, clock: Clock) -> None:
    never = QualityConfig(
        second_review_share=1.0,
        queues={"people-smuggling": QueueQualityConfig(second_review_share=0.0)},
    )
    with ReviewQueue(database_url, clock=clock, quality=never) as q:
        q.enqueue([make_item(3), make_item(4, policy="hate")])
        got = q.claim_next("alice", ["people-smuggling"])
        assert got is not None
        q.decide(got, "remove-ban-refer")
        assert q.get_item(got.item_id).status == "decided"
        assert _actions(q, got.item_id) == [("refer_law_enforcement", "pending")]
        other = q.claim_next("alice", ["hate"])
        assert other is not None
        q.decide(other, "remove-hate")
        assert q.get_item(other.item_id).queue == "hate:second"


def test_undo_brings_a_sampled_decision_back(queue: ReviewQueue) -> None:
    queue.enqueue([make_item(5)])
    got = queue.claim_next("alice")
    assert got is not None
    decision = queue.decide(got, "no-violation")
    again = queue.undo(decision.id, "alice")
    assert again.queue == "people-smuggling"
    assert queue.get_item(got.item_id).status == "claimed"


def test_queue_default_share_comes_from_settings(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MODQUEUE_SECOND_REVIEW_SHARE", raising=False)
    with ReviewQueue(database_url) as q:
        assert q.quality.share_for("hate") == 0.1
    monkeypatch.setenv("MODQUEUE_SECOND_REVIEW_SHARE", "0.25")
    with ReviewQueue(database_url) as q:
        assert q.quality.share_for("hate") == 0.25
