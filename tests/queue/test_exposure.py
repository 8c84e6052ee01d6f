"""Exposure budgets on both backends: points, routing away from graphic policies near the
budget, a lead's audited lift, the check-in, per-queue and per-person figures.

Most tests set a small `[exposure]` budget so that a few items reach it: they are about the
budget, so they change it; the rest of the product's defaults (10% second review) stay.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import select
from sqlmodel import col

from modqueue._exceptions import ConfigError, PermissionDenied
from modqueue.config import load_config
from modqueue.queue import (
    AuditEvent,
    ExposureConfig,
    ExposureEvent,
    ReviewQueue,
    add_reviewer,
    dashboard_metrics,
)
from tests.conftest import Clock, make_item

# violent-threats is graphic (severity 5); doxxing is not.
SMALL = ExposureConfig(budget=20, near=0.5, checkin_after=2)


def severity(q: ReviewQueue, policy: str) -> int:
    return q.guidelines.get(policy).severity


@pytest.fixture
def q(review_queue: ReviewQueue) -> ReviewQueue:
    review_queue.exposure = SMALL
    report = review_queue.enqueue(
        [
            make_item(1, policy="violent-threats", text="threat one", report_count=50),
            make_item(2, policy="violent-threats", text="threat two", report_count=40),
            make_item(
                3,
                policy="doxxing",
                text="where does he live",
                report_count=1,
                views=1,
                signals=[],
                flagged_at="2026-11-24T09:00:00Z",
            ),
        ]
    )
    assert report.new == 3
    return review_queue


def audit(q: ReviewQueue, event: str) -> list[AuditEvent]:
    with q.session() as s:
        return list(s.scalars(select(AuditEvent).where(col(AuditEvent.event) == event)))


def test_seeing_a_graphic_item_counts_severity_times_weight(q: ReviewQueue) -> None:
    claim = q.claim_next("ana", ["violent-threats"])
    assert claim is not None and claim.item.policy == "violent-threats"
    status = q.exposure_status("ana")
    assert status.points == severity(q, "violent-threats") * SMALL.graphic_seen
    assert status.budget == 20 and status.near_at == 10


def test_near_the_budget_graphic_policies_are_held_back(q: ReviewQueue) -> None:
    assert q.get_item(2).priority > q.get_item(3).priority
    first = q.claim_next("ana")  # violent-threats, 5 x 2 = 10 points: at `near`
    assert first is not None and first.item_id == 1
    status = q.exposure_status("ana")
    assert status.held_back == ("image-abuse", "violent-threats")
    assert "held back" in status.explain() and "lead can lift" in status.explain()
    second = q.claim_next("ana")
    # item 2 (violent-threats) outranks item 3, but is held back for ana
    assert second is not None and second.item_id == 3
    assert q.claim_next("ana") is None  # only graphic work is left
    other = q.claim_next("ben")  # another reviewer is not held back
    assert other is not None and other.item_id == 2


def test_the_hold_starts_with_the_event_that_reaches_the_near_mark(
    q: ReviewQueue, clock: Clock
) -> None:
    # The claim statement stops summing at the event that reaches the mark: ana, a
    # little below it after several events, is not held back; ben, whose last event
    # reaches it (a sum of several), is, as `exposure_status` says. Events older than
    # the shift count for neither.
    now = clock.now
    points = [2.5, 0.0, 1.5, 3.0, 0.5, 2.0]  # 9.5: below the near mark of 10
    with q.session() as s:
        for reviewer, extra in [("ana", []), ("ben", [0.5])]:
            old = now - timedelta(hours=SMALL.shift_hours, minutes=1)
            s.add(ExposureEvent(reviewer=reviewer, at=old, queue="doxxing", kind="seen", points=50))
            for k, p in enumerate([*points, *extra]):
                at = now - timedelta(minutes=60 - k)
                s.add(
                    ExposureEvent(reviewer=reviewer, at=at, queue="doxxing", kind="seen", points=p)
                )
    assert not q.exposure_status("ana").held_back
    assert q.exposure_status("ben").held_back
    ben = q.claim_next("ben")
    assert ben is not None and ben.item_id == 3  # the graphic items are held back
    ana = q.claim_next("ana")
    assert ana is not None and ana.item_id == 1  # violent-threats: not held back


def test_an_explicit_graphic_queue_is_held_back_too(q: ReviewQueue) -> None:
    assert q.claim_next("ana", ["violent-threats"]) is not None
    assert q.claim_next("ana", ["violent-threats"]) is None
    assert q.exposure_status("ana").held_back


def test_the_shift_window_lets_exposure_age_out(q: ReviewQueue, clock: Clock) -> None:
    assert q.claim_next("ana") is not None
    assert q.exposure_status("ana").held_back
    clock.advance(hours=SMALL.shift_hours, seconds=1)
    status = q.exposure_status("ana")
    assert status.points == 0 and not status.held_back


def test_reveals_count_and_are_audited(q: ReviewQueue) -> None:
    claim = q.claim_next("ana")
    assert claim is not None
    q.record_reveal(claim, text=True, media=True)
    sev = severity(q, "violent-threats")
    status = q.exposure_status("ana")
    expected = sev * (SMALL.graphic_seen + SMALL.revealed_text + SMALL.revealed_media)
    assert status.points == expected
    assert status.graphic_reveals == 2
    [event] = audit(q, "revealed")
    assert event.item_id == claim.item_id and event.actor == "ana"
    assert event.detail == {"what": "graphic text, media links"}


def test_checkin_is_offered_after_graphic_reveals_and_only_its_showing_kept(
    q: ReviewQueue,
) -> None:
    claim = q.claim_next("ana")
    assert claim is not None
    q.record_reveal(claim, text=True, media=False)
    assert not q.exposure_status("ana").checkin_due
    q.record_reveal(claim, text=True, media=False)
    assert q.exposure_status("ana").checkin_due
    q.record_checkin("ana")
    assert not q.exposure_status("ana").checkin_due
    with q.session() as s:
        kinds = list(
            s.scalars(
                select(col(ExposureEvent.kind))
                .where(col(ExposureEvent.reviewer) == "ana")
                .order_by(col(ExposureEvent.id))
            )
        )
    assert kinds == ["seen", "revealed_text", "revealed_text", "checkin_shown"]


def register(q: ReviewQueue) -> None:
    names = {"root": "admin", "lena": "lead", "ana": "reviewer", "ben": "reviewer"}
    for name, role in names.items():
        actor = None if name == "root" else "root"
        with q.session() as s:
            add_reviewer(
                s,
                actor=actor,
                name=name,
                role=role,
                policies=["violent-threats", "doxxing"],
                now=q.clock(),
            )


def test_a_lead_lifts_the_hold_for_one_shift_audited(q: ReviewQueue, clock: Clock) -> None:
    register(q)
    assert q.claim_next("ana") is not None
    assert q.exposure_status("ana").held_back
    with pytest.raises(PermissionDenied):
        q.lift_exposure("ben", "ana")
    assert audit(q, "access_denied")[-1].actor == "ben"
    lift = q.lift_exposure("lena", "ana", reason="asked to finish the backlog")
    assert lift.until == clock() + timedelta(hours=SMALL.shift_hours)
    [event] = audit(q, "exposure_lifted")
    assert event.actor == "lena"
    assert event.after == {"reviewer": "ana", "until": lift.until.isoformat()}
    status = q.exposure_status("ana")
    assert status.held_back == () and status.lifted_until == lift.until
    assert "lifted" in status.explain()
    claim = q.claim_next("ana")
    assert claim is not None and claim.item_id == 2  # graphic work again


def test_per_person_figures_need_their_own_permission(q: ReviewQueue) -> None:
    register(q)
    assert q.claim_next("ana") is not None
    assert q.exposure_status("ana").points > 0  # one's own figure: always
    with pytest.raises(PermissionDenied):
        q.exposure_status("lena", of="ana")  # a lead may not
    with pytest.raises(PermissionDenied):
        q.exposure_people("lena")
    assert q.exposure_status("root", of="ana").points == q.exposure_status("ana").points
    people = q.exposure_people("root")
    assert [p.reviewer for p in people] == ["ana"]
    assert people[0].by_policy == {"violent-threats": 10.0}


def test_dashboard_shows_exposure_per_queue(q: ReviewQueue, clock: Clock) -> None:
    a = q.claim_next("ana")
    b = q.claim_next("ben")
    assert a is not None and b is not None
    q.record_reveal(b, text=True, media=False)
    metrics = q.run(lambda s: dashboard_metrics(s, now=clock(), window_hours=12))
    by_queue = {h.queue: h for h in metrics.queues}
    sev = severity(q, "violent-threats")
    threats = by_queue["violent-threats"]
    assert threats.exposure_points == sev * (2 * SMALL.graphic_seen + SMALL.revealed_text)
    assert threats.exposure_reveals == 1
    assert by_queue["doxxing"].exposure_points == 0


def test_budgets_off_record_nothing_and_hold_nothing(q: ReviewQueue) -> None:
    q.exposure = ExposureConfig(enabled=False, budget=1)
    assert q.claim_next("ana") is not None
    assert q.claim_next("ana") is not None
    status = q.exposure_status("ana")
    assert (status.points, status.held_back, status.enabled) == (0.0, (), False)
    with q.session() as s:
        assert s.scalars(select(ExposureEvent)).all() == []


def test_per_reviewer_budget_and_config_validation(tmp_path: Path) -> None:
    path = tmp_path / "modqueue.toml"
    path.write_text('[exposure]\nshift = "6h"\nbudget = 100\n[exposure.budgets]\nana = 250\n')
    config = load_config(path).exposure
    assert config.shift_hours == 6 and config.budget_for("ana") == 250
    assert config.budget_for("ben") == 100
    for bad in ({"near": 1.5}, {"budget": 0}, {"shift": "forever"}, {"nope": 1}):
        with pytest.raises(ValidationError):
            ExposureConfig.model_validate(bad)
    path.write_text("[exposure]\nbudget = -3\n")
    with pytest.raises(ConfigError, match=r"exposure\.budget"):
        load_config(path)
