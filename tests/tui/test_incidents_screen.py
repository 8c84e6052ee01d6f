"""Pilot test of the lead's incidents screen (from the dashboard, `i`), both backends:
a reporter flood and a signal-source flood are listed; the lead mutes the reporter,
marks the source unreliable, decides one incident with a label and dismisses the other.
The test sets small `[floods]` thresholds: it is about floods; other defaults stay."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from textual.widgets import DataTable, Input

from modqueue.queue import FloodsConfig, ReviewQueue
from modqueue.tui import TuiConfig
from modqueue.tui.screens import DashboardScreen, IncidentsScreen, NoteScreen
from tests.conftest import Clock, make_item
from tests.tui.conftest import SIZE, events, make_app, settle, statuses


@pytest.fixture
def flooded(database_url: str, clock: Clock) -> Iterator[ReviewQueue]:
    queue = ReviewQueue(
        database_url, clock=clock, floods=FloodsConfig(fingerprint=0, reporter=2, source=2)
    )
    reported = [
        make_item(n, text=f"report {n} of a bot", reporter={"id": "bot-7"}, signals=[])
        for n in (1, 2, 3)
    ]
    hashed = [
        make_item(n, text=f"image post {n}", signals=[{"name": "bad-hash", "score": 0.9}])
        for n in (4, 5, 6)
    ]
    queue.enqueue([*reported, *hashed])
    yield queue
    queue.close()


def rows(screen: Any) -> list[tuple[str, ...]]:
    table = screen.query_one(DataTable)
    return [tuple(str(c) for c in table.get_row_at(i)) for i in range(table.row_count)]


async def test_the_lead_acts_on_incidents_from_the_dashboard(
    flooded: ReviewQueue, tui_config: TuiConfig
) -> None:
    app = make_app(flooded, tui_config, mode="lead")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert isinstance(app.screen, DashboardScreen)
        await pilot.press("i")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, IncidentsScreen)
        listed = {(r[2], r[4], r[1], r[3]) for r in rows(screen)}
        assert listed == {("reporter", "bot-7", "open", "3"), ("source", "bad-hash", "open", "3")}
        screen.query_one(DataTable).move_cursor(row=[r[2] for r in rows(screen)].index("reporter"))
        await pilot.press("x")  # a reporter incident has no source
        await pilot.press("m")
        await settle(app, pilot)
        assert [e[1]["reporter"] for e in events(flooded, "reporter_muted")] == ["bot-7"]
        assert any(r[5] == "muted" for r in rows(screen))
        screen.query_one(DataTable).move_cursor(row=[r[2] for r in rows(screen)].index("source"))
        await pilot.press("x")
        await settle(app, pilot)
        assert [e[1]["source"] for e in events(flooded, "source_unreliable")] == ["bad-hash"]
        assert flooded.get_item(4).signals[0]["weight"] == 0.25
        await pilot.press("d")
        await settle(app, pilot)
        assert [statuses(flooded)[i][0] for i in (4, 5, 6)] == ["pending"] * 3
        screen.query_one(DataTable).move_cursor(row=[r[2] for r in rows(screen)].index("reporter"))
        await pilot.press("l")
        await pilot.pause()
        assert isinstance(app.screen, NoteScreen)
        app.screen.query_one(Input).value = "no-violation"
        await pilot.press("enter")
        await settle(app, pilot)
        assert {statuses(flooded)[i][0] for i in (1, 2, 3)} <= {"decided", "pending"}
        assert len(events(flooded, "incident_decided")) == 1
        assert {(r[2], r[1]) for r in rows(screen)} == {
            ("reporter", "decided"),
            ("source", "dismissed"),
        }
        await pilot.press("escape")
        await settle(app, pilot)
        assert isinstance(app.screen, DashboardScreen)
