"""The lead dashboard: numbers from the database, refreshed live by its timer."""

from __future__ import annotations

from textual.widgets import Sparkline

from modqueue.queue import ReviewQueue
from modqueue.tui import TuiConfig
from modqueue.tui.components import ItemCard, QueueHealthTable
from modqueue.tui.screens import DashboardScreen, QueuesScreen, ReviewScreen
from tests.tui.conftest import SIZE, make_app, settle, statuses


async def test_dashboard_refreshes_live_and_opens_senior_queues(
    seeded_queue: ReviewQueue,
) -> None:
    app = make_app(seeded_queue, TuiConfig(dashboard_refresh=0.2), mode="lead")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, DashboardScreen)
        assert screen.metrics is not None
        assert sum(q.depth for q in screen.metrics.queues) == 6
        table = screen.query_one(QueueHealthTable)
        assert table.row_count == 4
        claim = seeded_queue.claim_next("bob")
        assert claim is not None
        seeded_queue.escalate(claim, "senior look")
        for _ in range(100):  # the timer's next read (bounded)
            await pilot.pause(0.05)
            if screen.metrics and any(q.queue.endswith(":senior") for q in screen.metrics.queues):
                break
        await settle(app, pilot)
        assert table.row_count == 5
        assert screen.query_one("#decided-sparkline", Sparkline).data is not None
        await pilot.press("g")
        await settle(app, pilot)
        assert isinstance(app.screen, QueuesScreen)
        picker = app.screen.query_one("#queue-table")
        keys = [row.key.value for row in picker.ordered_rows]  # type: ignore[attr-defined]
        assert "people-smuggling:senior" in keys
        for _ in range(keys.index("people-smuggling:senior")):
            await pilot.press("down")
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, ReviewScreen)
        assert app.screen.query_one(ItemCard).shown_item_id == 1
        assert statuses(seeded_queue)[1] == ("claimed", "alice")
        await pilot.press("q")  # back to the dashboard, the claim given back
        await settle(app, pilot)
        assert isinstance(app.screen, DashboardScreen)
        assert statuses(seeded_queue)[1] == ("pending", None)
