"""Each role allowed and refused in the terminal UI: the lead dashboard and senior queues.

A refusal is an error on screen (never a crash) and one `access_denied` audit event.
"""

from __future__ import annotations

from typing import Any

import pytest

from modqueue.queue import ReviewQueue
from modqueue.tui import TuiConfig
from modqueue.tui.app import ReviewApp
from modqueue.tui.components import ItemCard
from modqueue.tui.screens import DashboardScreen, QueuesScreen, ReviewScreen
from tests.access.conftest import POLICY, ROLES, Team, add, denials
from tests.tui.conftest import SIZE, settle

CONFIG = TuiConfig(dashboard_refresh=3600)


def notifications(app: ReviewApp, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """(severity, message) of every notification the app shows from now on."""
    seen: list[tuple[str, str]] = []
    original = app.notify

    def notify(message: str, **kwargs: Any) -> None:
        seen.append((kwargs.get("severity", "information"), message))
        original(message, **kwargs)

    monkeypatch.setattr(app, "notify", notify)
    return seen


def summary_text(screen: DashboardScreen) -> str:
    return str(screen.query_one("#dashboard-summary").render())


@pytest.mark.parametrize("role", ROLES)
async def test_lead_dashboard_by_role(
    team: Team, role: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    who = team.name(role)
    app = ReviewApp(queue=team.queue, reviewer=who, mode="lead", config=CONFIG)
    seen = notifications(app, monkeypatch)  # before the app starts: its first read refuses
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, DashboardScreen)
        if role in {"lead", "admin"}:
            assert screen.refused is None and screen.metrics is not None
            assert sum(q.depth for q in screen.metrics.queues) == 3
            assert "3 pending" in summary_text(screen)
            assert seen == [] and denials(team.queue, who) == []
            await pilot.press("g")  # the queue picker opens from the dashboard
            await settle(app, pilot)
            assert isinstance(app.screen, QueuesScreen)
            return
        message = (
            f"reviewer {who!r} (role {role}) may not view the lead dashboard: "
            "that needs role lead or above"
        )
        assert screen.refused == message and screen.metrics is None
        assert seen == [("error", message)]
        assert "The lead dashboard is for leads and admins" in summary_text(screen)
        [event] = denials(team.queue, who)
        assert event.detail is not None
        assert event.detail["permission"] == "view_dashboard"
        assert event.detail["reason"] == message
        screen.refresh_metrics()  # what the timer would do: no second read, no second event
        await pilot.press("g")  # nor does the picker open behind the refusal
        await settle(app, pilot)
        assert app.screen is screen and app.is_running
        assert len(denials(team.queue, who)) == 1
        assert seen[-1] == ("error", message)


async def test_unregistered_viewer_is_refused_the_dashboard(
    team: Team, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = ReviewApp(queue=team.queue, reviewer="stranger", mode="lead", config=CONFIG)
    seen = notifications(app, monkeypatch)  # before the app starts: its first read refuses
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert seen and seen[0][0] == "error" and "'stranger' is not registered" in seen[0][1]
    assert len(denials(team.queue, "stranger")) == 1


async def test_open_mode_dashboard_for_anyone(review_queue: ReviewQueue) -> None:
    review_queue.enqueue([{"source": "s", "external_id": "1", "text": "hi"}])
    app = ReviewApp(queue=review_queue, reviewer="anyone", mode="lead", config=CONFIG)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, DashboardScreen)
        assert screen.refused is None and screen.metrics is not None


@pytest.mark.parametrize("role", ROLES)
async def test_senior_queue_in_the_review_screen_by_role(
    team: Team, role: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    who = team.name(role)
    app = ReviewApp(
        queue=team.queue, reviewer=who, queues=[f"{POLICY}:senior"], mode="review", config=CONFIG
    )
    seen = notifications(app, monkeypatch)  # before the app starts: its first read refuses
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, ReviewScreen)
        card = screen.query_one(ItemCard)
        if role != "reviewer":
            assert card.shown_item_id == 3  # the escalated item
            assert seen == [] and denials(team.queue, who) == []
            return
        message = (
            f"reviewer {who!r} (role reviewer) may not claim items in the senior queue "
            f"'{POLICY}:senior': that needs role senior or above"
        )
        assert seen == [("error", f"could not claim: {message}")]
        assert card.shown_item_id is None and screen.refused == message
        assert "Access denied" in str(card.query_one("#item-meta").render())
        [event] = denials(team.queue, who)
        assert event.detail is not None and event.detail["queue"] == f"{POLICY}:senior"
        screen._tick()  # the periodic tick does not try again
        await settle(app, pilot)
        assert len(denials(team.queue, who)) == 1 and app.is_running
        await pilot.press("g")  # pick a queue they may work: the refusal is lifted
        await settle(app, pilot)
        picker = app.screen
        assert isinstance(picker, QueuesScreen)
        keys = [row.key.value for row in picker.query_one("#queue-table").ordered_rows]  # type: ignore[attr-defined]
        for _ in range(keys.index(POLICY)):
            await pilot.press("down")
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, ReviewScreen) and app.screen.refused is None
        assert card.shown_item_id == 1
        await pilot.press("q")
        await settle(app, pilot)
    assert team.queue.get_item(1).status == "pending"


def picker_queues(app: ReviewApp) -> list[str]:
    """The queue names the picker lists (without its "every queue" row)."""
    picker = app.screen
    assert isinstance(picker, QueuesScreen)
    table = picker.query_one("#queue-table")
    return [str(row.key.value) for row in table.ordered_rows if row.key.value]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("reviewer-1", [POLICY]),  # granted people-smuggling only: no doxxing
        ("senior-1", [POLICY]),  # the picker opened from `review` leaves senior queues out
        ("root", sorted([POLICY, "doxxing"])),  # an admin granted every policy
        ("ml-1", []),  # the ML team's role works no queue
    ],
)
async def test_queue_picker_lists_only_the_queues_the_reviewer_may_work(
    team: Team, who: str, expected: list[str]
) -> None:
    if who == "ml-1":
        add(team.queue, "ml-1", "ml", [], "root")
    app = ReviewApp(queue=team.queue, reviewer=who, mode="pick", config=CONFIG)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert sorted(picker_queues(app)) == expected


async def test_lead_picker_shows_granted_senior_queues_only(team: Team) -> None:
    """From the lead dashboard the picker includes senior queues, still only of the
    lead's granted policies (lead-1: people-smuggling)."""
    app = ReviewApp(queue=team.queue, reviewer="lead-1", mode="lead", config=CONFIG)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("g")
        await settle(app, pilot)
        assert sorted(picker_queues(app)) == sorted([POLICY, f"{POLICY}:senior"])


async def test_open_mode_picker_lists_every_queue(review_queue: ReviewQueue) -> None:
    review_queue.enqueue(
        [
            {"source": "s", "external_id": "1", "text": "hi", "policy": POLICY},
            {"source": "s", "external_id": "2", "text": "hi", "policy": "doxxing"},
        ]
    )
    app = ReviewApp(queue=review_queue, reviewer="anyone", mode="pick", config=CONFIG)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert sorted(picker_queues(app)) == sorted([POLICY, "doxxing"])
