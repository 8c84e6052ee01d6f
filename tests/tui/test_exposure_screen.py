"""Exposure budgets on the review screen (pilot): the shift's points on the meter, the
reason when graphic work is held back, and the skippable check-in after graphic reveals.

The tests set a small `[exposure]` budget (they are about it); the rest stays default.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlmodel import col

from modqueue.queue import ExposureConfig, ExposureEvent, ReviewQueue
from modqueue.tui import TuiConfig
from modqueue.tui.components import ExposureMeter, ItemCard
from modqueue.tui.screens import CheckInScreen
from tests.conftest import Clock, make_item
from tests.tui.conftest import SIZE, make_app, settle


@pytest.fixture
def threats(database_url: str, clock: Clock) -> Iterator[ReviewQueue]:
    queue = ReviewQueue(database_url, clock=clock)
    items = [
        make_item(n, policy="violent-threats", text=f"threat {n}", report_count=10 - n)
        for n in (1, 2, 3)
    ]
    assert queue.enqueue(items).new == 3
    yield queue
    queue.close()


def card_text(app: object) -> str:
    card = app.screen.query_one(ItemCard)  # type: ignore[attr-defined]
    return "\n".join(str(w.render()) for w in card.children)


async def test_meter_and_held_back_message(threats: ReviewQueue, tui_config: TuiConfig) -> None:
    threats.exposure = ExposureConfig(budget=20, near=0.5)  # one graphic item reaches near
    app = make_app(threats, tui_config)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        meter = str(app.screen.query_one(ExposureMeter).render())
        assert "shift 10/20 pts" in meter and "graphic queues held back" in meter
        await pilot.press("1")
        await settle(app, pilot)
        text = card_text(app)
        assert "Exposure this shift: 10 of 20 points" in text
        assert "held back for you" in text and "A lead can lift this" in text
        assert "Nothing to review" not in text


async def test_checkin_is_offered_after_graphic_reveals(
    threats: ReviewQueue, tui_config: TuiConfig
) -> None:
    threats.exposure = ExposureConfig(checkin_after=2)
    app = make_app(threats, tui_config)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("r")  # reveal item 1
        await settle(app, pilot)
        assert not isinstance(app.screen, CheckInScreen)
        await pilot.press("1")
        await settle(app, pilot)
        await pilot.press("r")  # the second graphic reveal: check-in
        await settle(app, pilot)
        assert isinstance(app.screen, CheckInScreen)
        assert "revealed 2 graphic items" in str(app.screen.query_one("#checkin-text").render())
        await pilot.press("escape")
        await settle(app, pilot)
        assert not isinstance(app.screen, CheckInScreen)
    with threats.session() as s:
        kinds = list(s.scalars(select(col(ExposureEvent.kind)).order_by(col(ExposureEvent.id))))
    assert kinds.count("checkin_shown") == 1
    assert kinds.count("revealed_text") == 2
