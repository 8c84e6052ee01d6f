"""Pilot tests of the cluster card and the cluster decision key, both backends: the
card shows the copies as one, `C` opens a preview that follows the label and the
exclusions, and applying decides the members through `decide_cluster`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import col
from textual.widgets import OptionList, SelectionList, Static

from modqueue.queue import ClusterDecision, Decision, ReviewQueue
from modqueue.tui import TuiConfig
from modqueue.tui.app import ReviewApp
from modqueue.tui.components import ClusterCard
from modqueue.tui.screens.cluster_decision import ClusterDecisionScreen
from tests.conftest import Clock
from tests.tui.cluster_support import seed_cluster_queue
from tests.tui.conftest import SIZE, make_app, settle, statuses


@pytest.fixture
def cluster_queue(database_url: str, clock: Clock) -> Iterator[tuple[ReviewQueue, int]]:
    queue = ReviewQueue(database_url, clock=clock)
    cluster_id = seed_cluster_queue(queue)
    yield queue, cluster_id
    queue.close()


def card_text(app: ReviewApp) -> str:
    card = app.screen.query_one(ClusterCard)
    return str(card.query_one("#cluster-body", Static).render())


def preview_text(app: ReviewApp) -> str:
    return str(app.screen.query_one("#cluster-preview", Static).render())


async def wait_preview(app: ReviewApp, pilot: Any, expected: str) -> None:
    for _ in range(50):
        await app.workers.wait_for_complete()
        await pilot.pause()
        if expected in preview_text(app):
            return
    assert expected in preview_text(app)


async def test_the_card_shows_the_copies_as_one(
    cluster_queue: tuple[ReviewQueue, int], tui_config: TuiConfig
) -> None:
    queue, cluster_id = cluster_queue
    app = make_app(queue, tui_config)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        card = app.screen.query_one(ClusterCard)
        assert card.display and not card.has_class("-empty")
        text = card_text(app)
        assert f"cluster {cluster_id} · 5 copies (3 open)" in text  # two are claimed
        assert "reach 485,000 views · reports 100" in text
        assert "authors (5): @crossings, @safe_travel, @safe_travel2, @travel_safe, @uk_boats" in (
            text
        )
        assert "priority" in text and "= strongest member" in text and "+ size" in text
        assert "#2 @travel_safe claimed  Safe crossing to UK this Friday, 2000 1500" in text
        assert "#4 @safe_travel2 pending  same words as the representative" in text
        await pilot.press("1")  # decide item 1 alone: item 2 (same cluster) is next
        await settle(app, pilot)
        assert card.display and f"cluster {cluster_id}" in card_text(app)
        for _ in range(4):
            await pilot.press("1")
            await settle(app, pilot)
        assert card.has_class("-empty")  # item 6 is in no cluster


async def test_decide_cluster_previews_excludes_and_applies(
    cluster_queue: tuple[ReviewQueue, int], tui_config: TuiConfig
) -> None:
    queue, cluster_id = cluster_queue
    app = make_app(queue, tui_config)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("C")
        await pilot.pause()
        assert isinstance(app.screen, ClusterDecisionScreen)
        # Items 1 and 2 are this reviewer's claims: counted as applied.
        await wait_preview(app, pilot, "apply 'none' to 5 items")
        await pilot.press("down", "down", "down")  # remove-fake-documents
        await wait_preview(app, pilot, "apply 'remove_and_ban' to 5 items")
        assert app.screen.query_one(OptionList).highlighted == 3
        await pilot.press("tab", "down", "down", "space")  # leave item 3 out
        assert 3 not in app.screen.query_one(SelectionList).selected
        await wait_preview(app, pilot, "apply 'remove_and_ban' to 4 items; 1 excluded")
        await pilot.press("a")
        await settle(app, pilot)
        assert not isinstance(app.screen, ClusterDecisionScreen)
        with queue.session() as s:
            made = s.scalars(select(ClusterDecision)).one()
            members = s.scalars(
                select(Decision).where(col(Decision.cluster_decision_id) == made.id)
            ).all()
        assert (made.cluster_id, made.reviewer, made.label, made.excluded) == (
            cluster_id,
            "alice",
            "remove-fake-documents",
            [3],
        )
        assert sorted(d.item_id for d in members) == [1, 2, 4, 5]
        state = statuses(queue)
        assert state[3][0] in ("pending", "claimed")  # excluded: still to review alone
        assert app.screen.query_one(ClusterCard).has_class("-empty") or state[3][1] == "alice"


async def test_escape_cancels_and_an_item_alone_has_no_cluster_key(
    cluster_queue: tuple[ReviewQueue, int], tui_config: TuiConfig, monkeypatch: Any
) -> None:
    queue, _ = cluster_queue
    app = make_app(queue, tui_config)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("C")
        await pilot.pause()
        assert isinstance(app.screen, ClusterDecisionScreen)
        await pilot.press("escape")
        await settle(app, pilot)
        with queue.session() as s:
            assert s.scalars(select(Decision)).all() == []
        seen: list[str] = []
        original = app.screen.notify

        def notify(message: str, **kwargs: Any) -> None:
            seen.append(message)
            original(message, **kwargs)

        monkeypatch.setattr(app.screen, "notify", notify)
        for _ in range(5):  # decide the five copies one by one
            await pilot.press("1")
            await settle(app, pilot)
        await pilot.press("C")
        await pilot.pause()
        assert not isinstance(app.screen, ClusterDecisionScreen)
        assert seen[-1] == "This item is in no cluster of copies."
