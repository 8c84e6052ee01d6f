"""Each role allowed and refused at the Python API; every refusal is audited."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from modqueue import PermissionDenied
from modqueue.quality import (
    UNIDENTIFIED,
    add_gold,
    list_appeals,
    list_gold,
    open_appeal,
    quality_report,
    remove_gold,
)
from modqueue.queue import ReviewQueue, add_reviewer, list_reviewers
from modqueue.queue._claims import leases
from tests.access.conftest import OTHER_POLICY, POLICY, ROLES, Team, add, denials
from tests.conftest import make_item


def _claim_granted(t: Team, who: str) -> None:
    assert t.queue.claim_next(who) is not None


def _claim_other_policy(t: Team, who: str) -> None:
    t.queue.claim(2, who)


def _claim_senior_queue(t: Team, who: str) -> None:
    assert t.queue.claim_next(who, [f"{POLICY}:senior"]) is not None


def _decide_senior_item(t: Team, who: str) -> None:
    q = t.queue
    # The claim is taken behind authorize's back, to test `decide` on its own.
    claim = q.run(
        lambda s: leases.claim_item(s, item_id=3, reviewer=who, lease_seconds=300, now=q.clock())
    )
    q.decide(claim, "no-violation")


def _reporter(t: Team, who: str) -> None:
    assert t.queue.reporter_of(1, who) == {"email": "reporter@example.org"}


def _add_reviewer(t: Team, who: str) -> None:
    add(t.queue, "newcomer", "reviewer", [POLICY], who)


def _list_reviewers(t: Team, who: str) -> None:
    q = t.queue
    names = [r.name for r in q.run(lambda s: list_reviewers(s, actor=who, now=q.clock()))]
    assert "root" in names


def _dashboard(t: Team, who: str) -> None:
    metrics = t.queue.dashboard(who)
    assert sum(q.depth for q in metrics.queues) == 3


def _quality_full(t: Team, who: str) -> None:
    q = t.queue
    report = q.run(lambda s: quality_report(s, actor=who, now=q.clock()))
    assert report["scope"] == "full" and report["gold"] == {} and report["pairs"] == []


def _quality_aggregate(t: Team, who: str) -> None:
    q = t.queue
    report = q.run(lambda s: quality_report(s, actor=who, aggregate_only=True, now=q.clock()))
    assert report["scope"] == "aggregate" and "gold" not in report and "pairs" not in report


def _gold(q: ReviewQueue, who: str, item_id: int = 1) -> None:
    q.run(
        lambda s: add_gold(
            s,
            item_id=item_id,
            label="no-violation",
            actor=who,
            guidelines=q.guidelines,
            now=q.clock(),
        )
    )


def _gold_add(t: Team, who: str) -> None:
    _gold(t.queue, who)


def _gold_remove(t: Team, who: str) -> None:
    q = t.queue
    _gold(q, "root")
    q.run(lambda s: remove_gold(s, item_id=1, actor=who, now=q.clock()))


def _gold_list(t: Team, who: str) -> None:
    q = t.queue
    _gold(q, "root")
    assert [g.item_id for g in q.run(lambda s: list_gold(s, actor=who, now=q.clock()))] == [1]


def _decided_by_root(q: ReviewQueue) -> None:
    q.decide(q.claim(1, "root"), "no-violation")


def _appeal(t: Team, who: str) -> None:
    q = t.queue
    _decided_by_root(q)
    opened = q.run(
        lambda s: open_appeal(s, item_id=1, note="author disputes", actor=who, now=q.clock())
    )
    assert opened.opened_by == who and opened.appealed_reviewer == "root"


def _list_appeals(t: Team, who: str) -> None:
    q = t.queue
    _decided_by_root(q)
    q.run(lambda s: open_appeal(s, item_id=1, note="disputed", actor="root", now=q.clock()))
    assert len(q.run(lambda s: list_appeals(s, actor=who, now=q.clock()))) == 1


# operation -> the roles allowed to do it (each member is granted people-smuggling only)
MATRIX: dict[str, tuple[Callable[[Team, str], None], set[str]]] = {
    "claim_granted_policy": (_claim_granted, set(ROLES)),
    "claim_other_policy": (_claim_other_policy, set()),
    "claim_senior_queue": (_claim_senior_queue, {"senior", "lead", "admin"}),
    "decide_in_senior_queue": (_decide_senior_item, {"senior", "lead", "admin"}),
    "see_reporter_data": (_reporter, {"lead", "admin"}),
    "list_reviewers": (_list_reviewers, {"lead", "admin"}),
    "manage_reviewers": (_add_reviewer, {"admin"}),
    "lead_dashboard": (_dashboard, {"lead", "admin"}),
    "quality_report_full": (_quality_full, {"lead", "admin"}),
    "quality_report_aggregate": (_quality_aggregate, set(ROLES)),
    "gold_add": (_gold_add, {"lead", "admin"}),
    "gold_remove": (_gold_remove, {"lead", "admin"}),
    "gold_list": (_gold_list, {"lead", "admin"}),
    "open_appeal": (_appeal, set(ROLES)),
    "list_appeals": (_list_appeals, {"lead", "admin"}),
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("operation", sorted(MATRIX))
def test_role_matrix(team: Team, operation: str, role: str) -> None:
    run, allowed = MATRIX[operation]
    who = team.name(role)
    if role in allowed:
        run(team, who)
        assert denials(team.queue, who) == []
    else:
        with pytest.raises(PermissionDenied) as err:
            run(team, who)
        events = denials(team.queue, who)
        assert len(events) == 1
        assert events[0].detail is not None
        assert events[0].detail["reason"] == str(err.value)
        assert who in str(err.value)


def test_refused_claim_changes_nothing_but_the_audit(team: Team) -> None:
    q = team.queue
    with pytest.raises(PermissionDenied, match=f"not granted policy '{OTHER_POLICY}'"):
        q.claim(2, "reviewer-1")
    assert q.get_item(2).status == "pending"
    event = denials(q, "reviewer-1")[0]
    assert event.item_id == 2
    assert event.detail is not None
    assert event.detail["permission"] == "claim" and event.detail["policy"] == OTHER_POLICY


def test_claim_next_only_takes_granted_policies(team: Team) -> None:
    q = team.queue
    claim = q.claim_next("reviewer-1")
    assert claim is not None and claim.queue == POLICY
    assert q.claim_next("reviewer-1") is None  # item 2 (doxxing) is not theirs
    assert q.claim_next("root") is not None  # root has every policy: takes item 2


def test_unknown_and_disabled_reviewers_are_refused(team: Team) -> None:
    q = team.queue
    with pytest.raises(PermissionDenied, match="'stranger' is not registered"):
        q.claim_next("stranger")
    assert len(denials(q, "stranger")) == 1
    from modqueue.queue import disable_reviewer

    q.run(lambda s: disable_reviewer(s, actor="root", name="senior-1", now=q.clock()))
    with pytest.raises(PermissionDenied, match="'senior-1' is disabled"):
        q.claim_next("senior-1")
    with pytest.raises(PermissionDenied, match="disabled"):
        q.authenticate("senior-1", team.tokens["senior-1"])


def test_escalate_undo_and_release_are_checked(team: Team) -> None:
    q = team.queue
    claim = q.claim_next("reviewer-1")
    assert claim is not None
    decision = q.decide(claim, "escalate")
    reclaimed = q.undo(decision.id, "reviewer-1")  # own escalation, back from the senior queue
    assert reclaimed.queue == POLICY
    assert q.escalate(reclaimed, "over to you") == f"{POLICY}:senior"
    q.run(
        lambda s: add_reviewer(
            s, actor="root", name="reviewer-2", role="reviewer", policies=[], now=q.clock()
        )
    )
    with pytest.raises(PermissionDenied, match="no policies granted"):
        q.claim_next("reviewer-2")


def test_open_mode_allows_everything_until_the_first_admin(review_queue: ReviewQueue) -> None:
    q = review_queue
    q.enqueue([make_item(1), make_item(2)])
    assert q.stats()["access"]["mode"] == "open"
    claim = q.claim_next("anyone")
    assert claim is not None
    q.decide(claim, "no-violation")
    assert q.reporter_of(1, "anyone") is None
    with pytest.raises(Exception, match="first reviewer must be an admin"):
        add(q, "bob", "reviewer", [POLICY], None)
    add(q, "boss", "admin", [], None)
    assert q.stats()["access"]["mode"] == "enforced"
    with pytest.raises(PermissionDenied, match="not registered"):
        q.claim_next("anyone")


def test_last_admin_cannot_be_disabled_or_demoted(team: Team) -> None:
    from modqueue._exceptions import InvalidState
    from modqueue.queue import disable_reviewer, grant_reviewer

    q = team.queue
    q.run(lambda s: disable_reviewer(s, actor="root", name="admin-1", now=q.clock()))
    with pytest.raises(InvalidState, match="last enabled admin"):
        q.run(lambda s: disable_reviewer(s, actor="root", name="root", now=q.clock()))
    with pytest.raises(InvalidState, match="last enabled admin"):
        q.run(lambda s: grant_reviewer(s, actor="root", name="root", role="lead", now=q.clock()))
    updated = q.run(
        lambda s: grant_reviewer(
            s,
            actor="root",
            name="reviewer-1",
            policies=[OTHER_POLICY],
            revoke=[POLICY],
            role="senior",
            now=q.clock(),
        )
    )
    assert updated.policies == [OTHER_POLICY] and updated.role == "senior"


def test_quality_refusals_say_what_to_do_instead(team: Team) -> None:
    q = team.queue
    with pytest.raises(PermissionDenied) as err:
        q.run(lambda s: quality_report(s, actor="senior-1", now=q.clock()))
    assert str(err.value) == (
        "reviewer 'senior-1' (role senior) may not see per-reviewer figures: that needs role "
        "lead or above; ask for the aggregate only (`modqueue quality --aggregate-only`)"
    )
    [event] = denials(q, "senior-1")
    assert event.detail is not None and event.detail["permission"] == "view_reviewer_figures"
    with pytest.raises(PermissionDenied, match="'stranger' is not registered"):
        q.run(lambda s: open_appeal(s, item_id=1, note="x", actor="stranger", now=q.clock()))
    assert len(denials(q, "stranger")) == 1
    # Nobody named, once reviewers exist: refused and audited as unidentified.
    with pytest.raises(
        PermissionDenied, match="managing or listing gold items needs a registered reviewer"
    ):
        q.run(lambda s: list_gold(s))
    with pytest.raises(PermissionDenied, match="quality report needs a registered reviewer"):
        q.run(lambda s: quality_report(s, aggregate_only=True))
    assert [e.detail["permission"] for e in denials(q, UNIDENTIFIED) if e.detail] == [
        "manage_gold",
        "view_quality",
    ]


def test_refused_gold_add_stores_nothing(team: Team) -> None:
    q = team.queue
    with pytest.raises(PermissionDenied, match="may not manage or list gold items"):
        _gold(q, "senior-1")
    assert q.run(lambda s: list_gold(s, actor="lead-1")) == []


def test_open_mode_quality_services_need_no_identity(review_queue: ReviewQueue) -> None:
    q = review_queue
    q.enqueue([make_item(1)])
    _gold(q, "anyone")
    assert [g.added_by for g in q.run(list_gold)] == ["anyone"]
    report = q.run(quality_report)
    assert report["scope"] == "full" and "gold" in report
    assert sum(h.depth for h in q.dashboard("anyone").queues) == 1
