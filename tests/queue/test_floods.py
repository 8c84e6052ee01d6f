"""Flood folding on both backends: fingerprint, reporter and signal-source floods fold
into one incident held out of `claim_next`; the lead dismisses it, mutes a reporter or
marks a source unreliable, each audited and each needing a lead.

The tests set small `[floods]` thresholds (3 items) so a handful of items makes a flood:
they are about the thresholds, so they change them; the rest of the product's defaults
(10% second review) stay.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import select, text
from sqlmodel import col

from modqueue._exceptions import ConfigError, InvalidState, PermissionDenied
from modqueue.config import load_config
from modqueue.queue import (
    AuditEvent,
    Decision,
    FloodsConfig,
    Item,
    OutboundAction,
    ReviewQueue,
    add_reviewer,
    personal_of,
)
from tests.conftest import Clock, make_item

# make_item's texts are copies of one another (one cluster): fingerprint floods are off
# unless a test is about them.
SMALL = FloodsConfig(window_s=3600, fingerprint=0, reporter=3, source=3)


@pytest.fixture
def q(review_queue: ReviewQueue) -> ReviewQueue:
    review_queue.floods = SMALL
    return review_queue


def register(q: ReviewQueue) -> None:
    names = {"root": "admin", "lena": "lead", "ana": "reviewer"}
    for name, role in names.items():
        with q.session() as s:
            add_reviewer(
                s,
                actor=None if name == "root" else "root",
                name=name,
                role=role,
                policies=["people-smuggling"],
                now=q.clock(),
            )


def audit(q: ReviewQueue, event: str) -> list[AuditEvent]:
    with q.session() as s:
        return list(
            s.scalars(
                select(AuditEvent)
                .where(col(AuditEvent.event) == event)
                .order_by(col(AuditEvent.id))
            )
        )


def statuses(q: ReviewQueue) -> dict[int, str]:
    with q.session() as s:
        return {i.id: i.status for i in s.scalars(select(Item)) if i.id is not None}


def reported(n: int, reporter: str, **extra: Any) -> dict[str, Any]:
    return make_item(n, reporter={"id": reporter}, signals=[], **extra)


def test_a_reporter_flood_folds_into_one_incident_held_out_of_claims(q: ReviewQueue) -> None:
    q.enqueue([reported(n, "bot-7") for n in (1, 2, 3)])
    assert set(statuses(q).values()) == {"pending"}  # 3 is not more than 3
    q.enqueue([reported(4, "bot-7"), reported(5, "someone-else")])
    state = statuses(q)
    assert [state[i] for i in (1, 2, 3, 4)] == ["folded"] * 4
    assert state[5] == "pending"
    [incident] = q.list_incidents("lead")
    assert (incident.kind, incident.key, incident.item_count, incident.status) == (
        "reporter",
        "bot-7",
        4,
        "open",
    )
    claim = q.claim_next("ana")
    assert claim is not None and claim.item_id == 5
    assert q.claim_next("ana") is None  # the folded items are not served
    q.enqueue([reported(6, "bot-7")])  # later items join the open incident
    [grown] = q.list_incidents("lead")
    assert grown.id == incident.id and grown.item_count == 5
    assert [e.event for e in audit(q, "incident_opened")] == ["incident_opened"]
    assert len(audit(q, "incident_grew")) == 1
    assert len(audit(q, "folded")) == 5


def test_a_signal_source_flood_folds(q: ReviewQueue) -> None:
    bank = [{"name": "bad-hash-bank", "score": 0.99}]
    q.enqueue([make_item(n, signals=bank) for n in range(1, 5)] + [make_item(9)])
    view = q.show_incident(q.list_incidents("lead")[0].id, "lead")
    assert (view.summary.kind, view.summary.key) == ("source", "bad-hash-bank")
    assert view.by_status == {"folded": 4}
    assert [i.item_id for i in view.items] == [1, 2, 3, 4]
    assert statuses(q)[5] == "pending"  # post-9, id 5


def test_a_fingerprint_flood_folds_the_clusters_copies(q: ReviewQueue) -> None:
    q.floods = FloodsConfig(fingerprint=3, reporter=0, source=0)
    advert = "Safe crossing to the UK by boat, {} EUR per person, call +44 7700 900{}"
    copies = [make_item(n, text=advert.format(1000 + n, 100 + n)) for n in range(1, 5)]
    other = make_item(9, text="Lovely spring flowers in the park this morning, all yellow")
    q.enqueue([*copies, other])
    cluster_id = q.get_item(1).cluster_id
    assert cluster_id is not None
    [incident] = q.list_incidents("lead")
    assert (incident.kind, incident.key, incident.item_count) == (
        "fingerprint",
        str(cluster_id),
        3,
    )
    # The representative (item 1) stays with the reviewers; its copies fold.
    assert statuses(q) == {1: "pending", 2: "folded", 3: "folded", 4: "folded", 5: "pending"}
    claim = q.claim_next("ana")
    assert claim is not None and claim.item_id == 1  # the card's cluster: 4 copies
    q.release(claim)
    # The cluster decision is what a fingerprint flood waits for: folded members count.
    made = q.decide_cluster(cluster_id, "lena", "remove-fake-documents")
    assert made.member_count == 4
    assert {q.get_item(i).status for i in (1, 2, 3, 4)} <= {"decided", "pending"}


def test_hits_outside_the_window_do_not_count(q: ReviewQueue, clock: Clock) -> None:
    q.enqueue([reported(n, "bot-7") for n in (1, 2, 3)])
    clock.advance(hours=2)
    q.enqueue([reported(4, "bot-7")])
    assert set(statuses(q).values()) == {"pending"}
    assert q.list_incidents("lead") == []


def test_each_item_counts_once_per_origin_even_when_ingested_again(
    q: ReviewQueue, clock: Clock
) -> None:
    # One hit row per item and origin (cluster, reporter, each signal name), stored in
    # one statement per batch; a second sighting of the same items adds none.
    signals = [{"name": "hash-bank", "score": 0.9}, {"name": "clf", "score": 0.2}]
    batch = [make_item(n, reporter={"id": "bot-7"}, signals=signals) for n in (1, 2, 3)]
    q.enqueue(batch)
    clock.advance(minutes=5)
    q.enqueue(batch)
    with q.session() as s:
        hits = sorted(
            (str(k), str(y), int(i))
            for k, y, i in s.execute(text("SELECT kind, key, item_id FROM flood_hit"))
        )
        clusters = {i.cluster_id for i in s.scalars(select(Item))}
    [cluster] = clusters  # make_item's texts are copies of one another
    origins = [("reporter", "bot-7"), ("source", "clf"), ("source", "hash-bank")]
    expected = [(k, y, i) for k, y in origins for i in (1, 2, 3)]
    expected += [("fingerprint", str(cluster), i) for i in (1, 2, 3)]
    assert hits == sorted(expected)
    assert set(statuses(q).values()) == {"pending"}
    assert q.list_incidents("lead") == []


def test_claimed_items_are_not_folded_and_off_means_off(q: ReviewQueue) -> None:
    q.enqueue([reported(1, "bot-7")])
    claim = q.claim_next("ana")
    assert claim is not None
    q.enqueue([reported(n, "bot-7") for n in (2, 3, 4)])
    assert statuses(q) == {1: "claimed", 2: "folded", 3: "folded", 4: "folded"}
    q.floods = FloodsConfig(enabled=False)
    q.enqueue([reported(n, "bot-8") for n in range(10, 20)])
    assert set(statuses(q).values()) == {"claimed", "folded", "pending"}
    assert [s for i, s in statuses(q).items() if i > 4] == ["pending"] * 10


def test_dismissing_gives_the_items_back(q: ReviewQueue) -> None:
    q.enqueue([reported(n, "bot-7") for n in range(1, 5)])
    [incident] = q.list_incidents("lead")
    assert q.dismiss_incident(incident.id, "lena", note="a real campaign") == [1, 2, 3, 4]
    assert set(statuses(q).values()) == {"pending"}
    [closed] = q.list_incidents("lead")
    assert (closed.status, closed.closed_by) == ("dismissed", "lena")
    [event] = audit(q, "incident_dismissed")
    assert event.actor == "lena" and event.detail is not None
    assert event.detail["returned"] == 4
    with pytest.raises(InvalidState, match="dismissed"):
        q.dismiss_incident(incident.id, "lena")


def test_a_muted_reporter_folds_at_once(q: ReviewQueue) -> None:
    q.enqueue([reported(1, "noisy"), reported(2, "noisy")])
    assert set(statuses(q).values()) == {"pending"}
    [outcome] = q.mute_reporter("noisy", "lena", reason="reports everything")
    assert outcome.folded == [1, 2]
    q.enqueue([reported(3, "noisy"), reported(4, "quiet")])
    assert statuses(q) == {1: "folded", 2: "folded", 3: "folded", 4: "pending"}
    [incident] = q.list_incidents("lead")
    assert (incident.key, incident.item_count, incident.rule) == ("noisy", 3, "muted")
    [event] = audit(q, "reporter_muted")
    assert event.actor == "lena"
    # The reporter is personal data: kept beside the chain, a digest in it.
    assert event.detail is not None and event.detail["reason"] == "reports everything"
    assert set(event.detail["reporter"]) == {"personal"}
    with q.session() as s:
        assert event.id is not None
        assert personal_of(s, [event.id])[event.id]["detail.reporter"] == "noisy"


def test_an_unreliable_source_weighs_less_in_priority(q: ReviewQueue) -> None:
    q.floods = FloodsConfig(source=0, unreliable_weight=0.25)
    flaky = [{"name": "flaky-clf", "score": 1.0}]
    q.enqueue([make_item(1, signals=flaky), make_item(2, signals=flaky)])
    before = q.get_item(1).priority
    assert q.mark_source_unreliable("flaky-clf", "lena", reason="misfires") == [1, 2]
    after = q.get_item(1)
    assert before - after.priority == pytest.approx(20 * 0.75, abs=0.01)
    assert after.signals == [{"name": "flaky-clf", "score": 1.0, "weight": 0.25}]
    q.enqueue([make_item(3, signals=flaky)])  # later items weigh less too
    assert q.get_item(3).priority == pytest.approx(after.priority, abs=0.01)
    [event] = audit(q, "source_unreliable")
    assert event.actor == "lena" and event.after == {"weight": 0.25}
    [incident_less] = [i for i in [q.get_item(2)] if i.status == "pending"]
    assert incident_less.priority == pytest.approx(after.priority, abs=0.01)


def test_every_flood_action_needs_a_lead(q: ReviewQueue) -> None:
    register(q)
    q.enqueue([reported(n, "bot-7") for n in range(1, 5)], actor="root")
    for act in (
        lambda: q.list_incidents("ana"),
        lambda: q.show_incident(1, "ana"),
        lambda: q.dismiss_incident(1, "ana"),
        lambda: q.mute_reporter("bot-7", "ana"),
        lambda: q.mark_source_unreliable("x", "ana"),
    ):
        with pytest.raises(PermissionDenied, match="flood"):
            act()
    assert len(audit(q, "access_denied")) == 5
    assert [i.id for i in q.list_incidents("lena")] == [1]


def test_floods_config_fails_fast(tmp_path: Path) -> None:
    path = tmp_path / "modqueue.toml"
    path.write_text('[floods]\nwindow = "30m"\nreporter = 10\n')
    config = load_config(path).floods
    assert (config.window_s, config.reporter, config.fingerprint, config.source) == (
        1800.0,
        10,
        50,
        0,
    )
    for bad in (
        {"window": "soon"},
        {"window": 0},
        {"reporter": -1},
        {"unreliable_weight": 1.5},
        {"nope": 1},
    ):
        with pytest.raises(ValidationError):
            FloodsConfig.model_validate(bad)
    path.write_text('[floods]\nsource = "many"\n')
    with pytest.raises(ConfigError, match=r"floods\.source"):
        load_config(path)


def test_the_lead_decides_an_incident_set_based_through_the_pipeline(q: ReviewQueue) -> None:
    register(q)
    q.enqueue([reported(n, "bot-7") for n in range(1, 31)], actor="root")
    [incident] = q.list_incidents("lena")
    assert incident.item_count == 30
    assert q.claim_next("ana") is None  # nothing folded is served
    with pytest.raises(PermissionDenied):
        q.decide_incident(incident.id, "ana", "no-violation")
    outcome = q.decide_incident(incident.id, "lena", "remove-fake-documents", note="bot run")
    # The product default: 10% of decisions, drawn per item, get a blind second review.
    assert sorted(outcome.decided + outcome.second_review) == list(range(1, 31))
    assert 0 < len(outcome.second_review) < 30
    assert outcome.skipped == [] and outcome.returned == []
    assert outcome.summary.startswith(f"incident {incident.id}: 'remove-fake-documents'")
    with q.session() as s:
        decisions = s.scalars(select(Decision)).all()
        actions = s.scalars(select(OutboundAction)).all()
    assert {(d.reviewer, d.origin, d.label) for d in decisions} == {
        ("lena", "incident", "remove-fake-documents")
    }
    assert len(decisions) == 30
    assert len({a.idempotency_key for a in actions}) == len(actions) == len(outcome.decided)
    decided = [e for e in audit(q, "decided") if e.detail and e.detail.get("incident_id")]
    assert len(decided) == 30
    [closed] = audit(q, "incident_decided")
    assert closed.actor == "lena" and closed.detail is not None
    assert closed.detail["decided"] == len(outcome.decided)
    [listed] = q.list_incidents("lena")
    assert (listed.status, listed.label, listed.closed_by) == (
        "decided",
        "remove-fake-documents",
        "lena",
    )
    with pytest.raises(InvalidState, match="not open"):
        q.decide_incident(incident.id, "lena", "no-violation")
