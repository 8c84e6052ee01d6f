"""Cluster decisions: decide, exclude, second-review sample, undo, reverse, split, late
copies (propagate suggest/auto/off), permissions and set-based writes, on both backends.

Membership is seeded with `tests.support.clusters.seed_cluster` (ingest-time assignment
belongs to the `match` work).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select, update
from sqlmodel import col

from modqueue._exceptions import InvalidState, NotFound, PermissionDenied, UnknownLabel
from modqueue.guidelines import bundled_guidelines_dir
from modqueue.queue import (
    ActionStatus,
    AuditEvent,
    ClusterDecision,
    ContentCluster,
    Decision,
    Item,
    OutboundAction,
    ReviewQueue,
    add_reviewer,
    apply_cluster_standing,
    sampled_for_second_review,
    verify_chain,
)
from tests.conftest import Clock, make_item
from tests.support.clusters import seed_cluster

REMOVE = "remove-fake-documents"  # action remove_and_ban


def _cluster(q: ReviewQueue, ns: list[int]) -> int:
    """A cluster of `make_item(n)` for `ns`, the first its representative."""
    q.enqueue([make_item(n) for n in ns])
    with q.session() as s:
        by_external = {
            external_id: int(item_id or 0)
            for item_id, external_id in s.execute(
                select(col(Item.id), col(Item.external_id)).where(
                    col(Item.external_id).in_([f"post-{n}" for n in ns])
                )
            )
        }
    return seed_cluster(q, [by_external[f"post-{n}"] for n in ns])


def _members(q: ReviewQueue, cluster_id: int) -> list[Item]:
    with q.session() as s:
        return list(
            s.scalars(select(Item).where(col(Item.cluster_id) == cluster_id).order_by(col(Item.id)))
        )


def _ids(q: ReviewQueue, cluster_id: int) -> list[int]:
    return [m.id for m in _members(q, cluster_id) if m.id is not None]


def _decisions(q: ReviewQueue, cluster_decision_id: int) -> list[Decision]:
    with q.session() as s:
        return list(
            s.scalars(
                select(Decision)
                .where(col(Decision.cluster_decision_id) == cluster_decision_id)
                .order_by(col(Decision.item_id))
            )
        )


def _actions(q: ReviewQueue) -> list[OutboundAction]:
    with q.session() as s:
        return list(s.scalars(select(OutboundAction).order_by(col(OutboundAction.id))))


def _events(q: ReviewQueue, name: str) -> list[AuditEvent]:
    with q.session() as s:
        return list(
            s.scalars(
                select(AuditEvent).where(col(AuditEvent.event) == name).order_by(col(AuditEvent.id))
            )
        )


def test_a_cluster_decision_gives_every_member_its_own_decision_action_and_event(
    review_queue: ReviewQueue,
) -> None:
    q = review_queue
    cluster_id = _cluster(q, [1, 2, 3, 4, 5])
    preview = q.preview_cluster(cluster_id, REMOVE, "alice")
    assert preview.summary == "apply 'remove_and_ban' to 5 items"
    made = q.decide_cluster(cluster_id, "alice", REMOVE, note="same advert")
    assert made.member_count == 5 and made.excluded == [] and made.label == REMOVE
    members = _members(q, cluster_id)
    assert {m.status for m in members} == {"decided"}
    assert {m.final_label for m in members} == {REMOVE}
    decisions = _decisions(q, made.id)
    assert [d.item_id for d in decisions] == [m.id for m in members]
    assert {(d.origin, d.kind, d.status, d.reviewer) for d in decisions} == {
        ("cluster", "primary", "active", "alice")
    }
    actions = _actions(q)
    assert sorted(a.item_id for a in actions) == [m.id for m in members]
    assert {a.action for a in actions} == {"remove_and_ban"}
    assert len({a.idempotency_key for a in actions}) == 5
    assert {a.decision_id for a in actions} == {d.id for d in decisions}
    decided = _events(q, "decided")
    assert sorted(e.item_id for e in decided if e.item_id is not None) == [m.id for m in members]
    assert all(e.detail and e.detail["cluster_decision_id"] == made.id for e in decided)
    (cluster_event,) = _events(q, "cluster_decided")
    assert cluster_event.detail and cluster_event.detail["members"] == 5
    with q.session() as s:
        assert s.get_one(ContentCluster, cluster_id).status == "decided"
        assert verify_chain(s).ok
    assert q.show_cluster(cluster_id, "alice").summary.status == "decided"


def test_excluded_members_stay_pending_and_a_stranger_cannot_be_excluded(
    review_queue: ReviewQueue,
) -> None:
    q = review_queue
    cluster_id = _cluster(q, [1, 2, 3, 4])
    members = _ids(q, cluster_id)
    assert q.preview_cluster(cluster_id, REMOVE, "alice", exclude=[members[2]]).summary == (
        "apply 'remove_and_ban' to 3 items; 1 excluded"
    )
    with pytest.raises(InvalidState, match=rf"cluster {cluster_id}: item 999 is not a member"):
        q.decide_cluster(cluster_id, "alice", REMOVE, exclude=[999])
    with pytest.raises(UnknownLabel):
        q.decide_cluster(cluster_id, "alice", "no-such-label")
    with pytest.raises(InvalidState, match="escalates"):
        q.decide_cluster(cluster_id, "alice", "escalate")
    made = q.decide_cluster(cluster_id, "alice", REMOVE, exclude=[members[2]])
    assert made.excluded == [members[2]] and made.member_count == 3
    left = q.get_item(members[2])
    assert left.status == "pending" and left.final_label is None
    assert members[2] not in [a.item_id for a in _actions(q)]
    # The excluded member can still be decided alone.
    claim = q.claim(members[2], "alice")
    assert q.decide(claim, "no-violation").cluster_decision_id is None


def test_claimed_and_decided_members_are_left_alone(review_queue: ReviewQueue) -> None:
    q = review_queue
    cluster_id = _cluster(q, [1, 2, 3])
    first, second, third = _ids(q, cluster_id)
    q.decide(q.claim(first, "bob"), "no-violation")
    q.claim(second, "carol")
    preview = q.preview_cluster(cluster_id, REMOVE, "alice")
    assert preview.applied == [third]
    assert preview.already_decided == [first]
    assert [(s.item_id, s.reason) for s in preview.skipped] == [(second, "claimed by carol")]
    made = q.decide_cluster(cluster_id, "alice", REMOVE)
    assert made.member_count == 1
    assert made.detail["skipped"] == [
        {"item_id": first, "reason": "already decided (no-violation)"},
        {"item_id": second, "reason": "claimed by carol"},
    ]
    assert q.get_item(first).final_label == "no-violation"
    assert q.get_item(second).status == "claimed"


def test_a_cluster_decision_is_sampled_once_through_its_representative(
    review_queue: ReviewQueue,
) -> None:
    """Product default share (10%): make_item(8) is in the sample, 1..7 are not. A
    cluster whose representative is item 8 sends only it to second review."""
    q = review_queue
    assert sampled_for_second_review("platform-reports", "post-8", 0.1)
    sampled = _cluster(q, [8, 1, 2])
    not_sampled = _cluster(q, [3, 4, 5])
    made = q.decide_cluster(sampled, "alice", REMOVE)
    rep = next(m for m in _members(q, sampled) if m.external_id == "post-8")
    assert rep.external_id == "post-8"
    assert made.detail["second_review"] == [rep.id]
    assert rep.queue == "people-smuggling:second" and rep.status == "pending"
    assert {m.status for m in _members(q, sampled) if m.id != rep.id} == {"decided"}
    assert rep.id not in [a.item_id for a in _actions(q)]
    # The second reviewer agrees: its action is queued then, as for a single decision.
    second = q.claim_next("bob", ["people-smuggling:second"])
    assert second is not None and second.item_id == rep.id
    q.decide(second, REMOVE)
    assert rep.id in [a.item_id for a in _actions(q)]
    other = q.decide_cluster(not_sampled, "alice", REMOVE)
    assert other.detail["second_review"] == []


def test_undo_within_the_grace_period_puts_every_member_back(
    review_queue: ReviewQueue, clock: Clock
) -> None:
    q = review_queue
    cluster_id = _cluster(q, [1, 2, 3])
    made = q.decide_cluster(cluster_id, "alice", REMOVE)
    with pytest.raises(PermissionDenied, match="was made by alice, not bob"):
        q.undo_cluster(made.id, "bob")
    clock.advance(seconds=10)
    back = q.undo_cluster(made.id, "alice")
    assert back == [m.id for m in _members(q, cluster_id)]
    assert {(m.status, m.final_label, m.queue) for m in _members(q, cluster_id)} == {
        ("pending", None, "people-smuggling")
    }
    assert {d.status for d in _decisions(q, made.id)} == {"undone"}
    assert {a.status for a in _actions(q)} == {"cancelled"}
    assert len(_events(q, "undone")) == 3
    with q.session() as s:
        assert s.get_one(ContentCluster, cluster_id).status == "open"
        assert s.get_one(ClusterDecision, made.id).status == "undone"
        assert verify_chain(s).ok
    with pytest.raises(InvalidState, match="already undone"):
        q.undo_cluster(made.id, "alice")
    # Decided again, then too late to undo.
    again = q.decide_cluster(cluster_id, "alice", REMOVE)
    clock.advance(seconds=31)
    with pytest.raises(InvalidState, match="older than the 30-second undo window"):
        q.undo_cluster(again.id, "alice")


def test_undo_is_refused_once_an_action_was_sent(review_queue: ReviewQueue) -> None:
    q = review_queue
    cluster_id = _cluster(q, [1, 2])
    made = q.decide_cluster(cluster_id, "alice", REMOVE)
    sent = _actions(q)[0]
    with q.session() as s:  # the dispatcher's attempt, as a test fixture
        s.execute(
            update(OutboundAction)
            .where(col(OutboundAction.id) == sent.id)
            .values(status="sent", attempts=1)
        )
    with pytest.raises(InvalidState, match="already sent to the platform"):
        q.undo_cluster(made.id, "alice")
    assert {m.status for m in _members(q, cluster_id)} == {"decided"}


def test_reverse_cancels_unsent_actions_and_queues_the_opposite_of_sent_ones(
    review_queue: ReviewQueue, clock: Clock
) -> None:
    q = review_queue
    cluster_id = _cluster(q, [1, 2, 3])
    made = q.decide_cluster(cluster_id, "alice", REMOVE)
    first, second, third = _actions(q)
    with q.session() as s:  # the dispatcher delivered two of them
        for action in (first, second):
            s.execute(
                update(OutboundAction)
                .where(col(OutboundAction.id) == action.id)
                .values(status="done", attempts=1)
            )
    clock.advance(minutes=5)
    with pytest.raises(InvalidState, match="note"):
        q.reverse_cluster(made.id, "sam", "")
    back, reversals = q.reverse_cluster(made.id, "sam", "not the same advert")
    assert back == [m.id for m in _members(q, cluster_id)]
    actions = {a.id: a for a in _actions(q)}
    assert actions[third.id].status == ActionStatus.CANCELLED
    assert sorted(actions[r].reverses_id or 0 for r in reversals) == [first.id, second.id]
    assert {actions[r].action for r in reversals} == {"restore_and_unban"}
    assert len({actions[r].idempotency_key for r in reversals}) == 2
    assert {d.status for d in _decisions(q, made.id)} == {"superseded"}
    assert {m.status for m in _members(q, cluster_id)} == {"pending"}
    assert len(_events(q, "decision_reversed")) == 3
    with q.session() as s:
        assert s.get_one(ClusterDecision, made.id).status == "reversed"
        assert s.get_one(ContentCluster, cluster_id).status == "open"
        assert verify_chain(s).ok
    with pytest.raises(InvalidState, match="already reversed"):
        q.reverse_cluster(made.id, "sam", "again")
    # Reversing again queues nothing new; deciding the cluster afresh works.
    assert q.decide_cluster(cluster_id, "alice", "no-violation").member_count == 3


def test_a_split_member_leaves_the_cluster_and_is_decided_alone(
    review_queue: ReviewQueue,
) -> None:
    q = review_queue
    cluster_id = _cluster(q, [1, 2, 3])
    rep, other, third = _ids(q, cluster_id)
    assert q.split_from_cluster(rep, "alice") == cluster_id
    with pytest.raises(InvalidState, match=f"item {rep} is not in a cluster"):
        q.split_from_cluster(rep, "alice")
    with q.session() as s:
        cluster = s.get_one(ContentCluster, cluster_id)
        assert cluster.representative_item_id == other
        assert cluster.member_count == 2
    (split,) = _events(q, "split_from_cluster")
    assert split.item_id == rep and split.before == {"cluster_id": cluster_id}
    made = q.decide_cluster(cluster_id, "alice", REMOVE)
    assert made.member_count == 2
    assert q.get_item(rep).status == "pending"
    assert q.decide(q.claim(rep, "alice"), "no-violation").cluster_decision_id is None
    assert third in [d.item_id for d in _decisions(q, made.id)]


ADVERT = (
    "Boat to UK this Friday, 100% success, pay on arrival. Bring 3 friends and your place "
    "is free. Message the number in bio, call +44 7700 900123 for the price of 2500 euro."
)


def _copy(n: int) -> dict[str, Any]:
    """A copy of the advert with its own price, phone number and spacing."""
    text = ADVERT.replace("2500", str(1000 + n)).replace("900123", f"9{n:05d}")
    return make_item(n, text=text.replace(" pay", "  pay") if n % 2 else text)


def _guidelines_with(tmp_path: Path, block: str) -> Path:
    folder = tmp_path / "guidelines"
    shutil.copytree(bundled_guidelines_dir(), folder)
    doc = folder / "people-smuggling.md"
    text = doc.read_text(encoding="utf-8")
    doc.write_text(text.replace("\nlabels:\n", f"\n{block}labels:\n", 1), "utf-8")
    return folder


@pytest.mark.parametrize("propagate", ["suggest", "auto", "off"])
def test_late_copies_follow_the_propagate_setting_at_ingest(
    database_url: str, clock: Clock, tmp_path: Path, propagate: str
) -> None:
    """End to end: ingest clusters the copies, a reviewer decides the cluster, later
    copies arrive through ingest and get the guideline's `propagate` setting (with `auto`,
    the default `propagate_review_share` of 10% still goes to a person)."""
    # Quoted: YAML reads a bare `off` as false (the guideline loader then refuses it).
    folder = _guidelines_with(tmp_path, f'clusters:\n  propagate: "{propagate}"\n')
    with ReviewQueue(database_url, clock=clock, guidelines=folder) as q:
        q.enqueue([_copy(n) for n in (1, 2, 3)])
        (cluster_id,) = {m.cluster_id for m in map(q.get_item, (1, 2, 3))}
        assert cluster_id is not None
        made = q.decide_cluster(cluster_id, "alice", REMOVE)
        assert made.member_count == 3
        clock.advance(minutes=5)
        q.enqueue([_copy(n) for n in range(100, 130)])
        late = [i for i in _ids(q, cluster_id) if i > 3]
        assert len(late) == 30
        items = {i: q.get_item(i) for i in late}
        if propagate == "off":
            assert {(i.status, i.suggestion is None) for i in items.values()} == {("pending", True)}
            return
        to_person = [
            i
            for i in late
            if propagate == "suggest"
            or sampled_for_second_review(f"propagate\0{items[i].source}", items[i].external_id, 0.1)
        ]
        if propagate == "auto":
            assert 0 < len(to_person) < len(late)
        for i in late:
            suggestion = items[i].suggestion
            if i in to_person:
                assert items[i].status == "pending" and suggestion is not None
                assert suggestion["label"] == REMOVE
                assert suggestion["signal"] == f"cluster:{cluster_id}"
            else:
                assert items[i].status == "decided" and items[i].final_label == REMOVE
        auto = [d for d in _decisions(q, made.id) if d.item_id in late]
        assert {(d.origin, d.reviewer) for d in auto} <= {("propagated", "alice")}
        assert sorted(d.item_id for d in auto) == [i for i in late if i not in to_person]
        assert len([a for a in _actions(q) if a.item_id in late]) == len(auto)
        with q.session() as s:
            assert verify_chain(s).ok


def test_an_explicit_propagation_overrides_the_guideline(review_queue: ReviewQueue) -> None:
    q = review_queue
    cluster_id = _cluster(q, [1, 2])
    q.decide_cluster(cluster_id, "alice", REMOVE)
    q.enqueue([make_item(n, text=f"an unrelated post about gardening {n}") for n in (40, 41)])
    late = [q.get_item(i).id for i in (3, 4)]
    with q.session() as s:
        s.execute(update(Item).where(col(Item.id).in_(late)).values(cluster_id=cluster_id))
    outcome = q.run(
        lambda s: apply_cluster_standing(
            s,
            cluster_id=cluster_id,
            item_ids=late,
            guidelines=q.guidelines,
            now=q.clock(),
            propagate="auto",
            review_share=0.0,
        )
    )
    assert sorted(outcome.decided) == late and outcome.suggested == []


def _late_copies(q: ReviewQueue, cluster_id: int, ns: list[int]) -> list[int]:
    q.enqueue([make_item(n, text=f"another post on another subject {n}") for n in ns])
    with q.session() as s:
        ids = [
            int(v or 0)
            for v in s.scalars(
                select(col(Item.id)).where(col(Item.external_id).in_([f"post-{n}" for n in ns]))
            )
        ]
        s.execute(update(Item).where(col(Item.id).in_(ids)).values(cluster_id=cluster_id))
    return sorted(ids)


def test_no_propagation_from_a_cluster_decided_without_a_takedown(
    review_queue: ReviewQueue,
) -> None:
    q = review_queue
    cluster_id = _cluster(q, [1, 2])
    q.decide_cluster(cluster_id, "alice", "no-violation")
    late = _late_copies(q, cluster_id, [50, 51])
    outcome = q.run(
        lambda s: apply_cluster_standing(
            s,
            cluster_id=cluster_id,
            item_ids=late,
            guidelines=q.guidelines,
            now=q.clock(),
            propagate="auto",
        )
    )
    assert outcome.untouched == late and outcome.decided == [] and outcome.suggested == []


def test_cluster_permissions_follow_the_queue_rules(review_queue: ReviewQueue) -> None:
    q = review_queue
    team: list[tuple[str, str, list[str], str | None]] = [
        ("root", "admin", ["*"], None),
        ("rita", "reviewer", ["people-smuggling"], "root"),
        ("hugo", "reviewer", ["hate"], "root"),
        ("sam", "senior", ["people-smuggling"], "root"),
    ]
    for name, role, policies, actor in team:
        with q.session() as s:
            add_reviewer(s, actor=actor, name=name, role=role, policies=policies, now=q.clock())
    cluster_id = _cluster(q, [1, 2, 3])
    with pytest.raises(PermissionDenied, match="not granted policy 'people-smuggling'"):
        q.decide_cluster(cluster_id, "hugo", REMOVE)
    made = q.decide_cluster(cluster_id, "rita", REMOVE)
    with pytest.raises(PermissionDenied, match="senior"):
        q.reverse_cluster(made.id, "rita", "wrong")
    q.reverse_cluster(made.id, "sam", "wrong")
    # A member in the senior queue needs a senior to decide the cluster.
    with q.session() as s:
        s.execute(
            update(Item)
            .where(col(Item.cluster_id) == cluster_id)
            .values(queue="people-smuggling:senior")
        )
    with pytest.raises(PermissionDenied, match="senior queue"):
        q.decide_cluster(cluster_id, "rita", REMOVE)
    senior = q.decide_cluster(cluster_id, "sam", REMOVE)
    assert {d.kind for d in _decisions(q, senior.id)} == {"senior"}
    with pytest.raises(NotFound, match="cluster 999 does not exist"):
        q.decide_cluster(999, "sam", REMOVE)


@pytest.fixture
def statements(review_queue: ReviewQueue) -> Iterator[list[str]]:
    """Every statement sent to the database, lower-cased."""
    seen: list[str] = []

    def listen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(" ".join(statement.split()).lower())

    event.listen(review_queue.engine, "before_cursor_execute", listen)
    yield seen
    event.remove(review_queue.engine, "before_cursor_execute", listen)


def test_a_cluster_decision_is_written_set_based(
    review_queue: ReviewQueue, statements: list[str]
) -> None:
    """Sixty members: a constant number of statements, not one (or three) per member
    (the members' audit events in one statement, the cluster's own event in another)."""
    q = review_queue
    cluster_id = _cluster(q, list(range(200, 260)))
    statements.clear()
    assert q.decide_cluster(cluster_id, "alice", REMOVE).member_count == 60
    inserts = {
        table: sum(1 for s in statements if s.startswith(f"insert into {table} "))
        for table in ("decision", "outbound_action", "audit_event")
    }
    assert inserts == {"decision": 1, "outbound_action": 1, "audit_event": 2}
    assert len(statements) < 20
