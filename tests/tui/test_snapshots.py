"""Snapshots of every screen (SQLite, fixed clock, fixed items): stable across reruns.

Regenerate with `pytest tests/tui/test_snapshots.py --snapshot-update` after a deliberate
change to the UI, and look at the SVGs before committing them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Markdown

from modqueue.queue import ReviewQueue
from modqueue.tui import TuiConfig
from modqueue.tui.app import ReviewApp
from tests.conftest import Clock, make_item
from tests.tui.conftest import SIZE, seed_items

Snap = Callable[..., bool]


@pytest.fixture
def snap_queue(tmp_path: Path) -> Iterator[ReviewQueue]:
    queue = ReviewQueue(f"sqlite:///{tmp_path}/snap.db", clock=Clock())
    queue.enqueue(seed_items())
    yield queue
    queue.close()


async def settled(pilot: Pilot[Any]) -> None:
    """Workers done, guideline markdown mounted, nothing pending."""
    app = pilot.app
    for _ in range(50):
        await app.workers.wait_for_complete()
        await pilot.pause()
        markdown = list(app.screen.query(Markdown))
        if all(m.children for m in markdown) and not any(w.is_running for w in app.workers):
            break
    await pilot.pause()


def review_app(queue: ReviewQueue, **kwargs: Any) -> ReviewApp:
    return ReviewApp(queue=queue, reviewer="alice", config=TuiConfig(), **kwargs)


def test_review_screen(snap_compare: Snap, snap_queue: ReviewQueue) -> None:
    assert snap_compare(review_app(snap_queue), terminal_size=SIZE, run_before=settled)


def test_review_screen_graphic_item_hidden(snap_compare: Snap, snap_queue: ReviewQueue) -> None:
    async def decide_first(pilot: Pilot[Any]) -> None:
        await settled(pilot)
        await pilot.press("1")
        await settled(pilot)

    assert snap_compare(review_app(snap_queue), terminal_size=SIZE, run_before=decide_first)


def test_review_screen_revealed(snap_compare: Snap, snap_queue: ReviewQueue) -> None:
    async def reveal(pilot: Pilot[Any]) -> None:
        await settled(pilot)
        await pilot.press("r")
        await settled(pilot)

    assert snap_compare(review_app(snap_queue), terminal_size=SIZE, run_before=reveal)


def test_help_screen(snap_compare: Snap, snap_queue: ReviewQueue) -> None:
    async def help_(pilot: Pilot[Any]) -> None:
        await settled(pilot)
        await pilot.press("question_mark")
        await pilot.pause()

    assert snap_compare(review_app(snap_queue), terminal_size=SIZE, run_before=help_)


def test_note_modal(snap_compare: Snap, snap_queue: ReviewQueue) -> None:
    async def note(pilot: Pilot[Any]) -> None:
        await settled(pilot)
        await pilot.press("e")
        await pilot.press(*"named target")
        await pilot.pause()

    assert snap_compare(review_app(snap_queue), terminal_size=SIZE, run_before=note)


def test_queues_screen(snap_compare: Snap, snap_queue: ReviewQueue) -> None:
    assert snap_compare(review_app(snap_queue, mode="pick"), terminal_size=SIZE, run_before=settled)


def test_lead_dashboard(snap_compare: Snap, snap_queue: ReviewQueue) -> None:
    clock = snap_queue.clock
    assert isinstance(clock, Clock)
    for label in ("restrict-testimonial", "no-violation"):
        claim = snap_queue.claim_next("bob")
        assert claim is not None
        clock.advance(seconds=90)
        if claim.item.policy == "violent-threats":
            label = "remove-glorification"
        snap_queue.decide(claim, label)
    claim = snap_queue.claim_next("bob")
    assert claim is not None
    snap_queue.escalate(claim, "needs a senior")
    clock.advance(hours=1)
    assert snap_compare(review_app(snap_queue, mode="lead"), terminal_size=SIZE, run_before=settled)


def test_hostile_item(snap_compare: Snap, tmp_path: Path) -> None:
    queue = ReviewQueue(f"sqlite:///{tmp_path}/hostile.db", clock=Clock())
    text = (
        "[bold red]x[/] [link=file:///etc/passwd]y[/link] \x1b[2J\x1b[31m red? "
        "مرحبا שלום 👋🏽 \u202ereversed\u202c\n" + "long line " * 400
    )
    queue.enqueue([make_item(1, text=text, author={"id": "[b]a[/b]", "handle": "\x1b[5m@h"})])
    try:
        assert snap_compare(review_app(queue), terminal_size=SIZE, run_before=settled)
    finally:
        queue.close()
