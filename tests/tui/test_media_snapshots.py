"""Snapshots of media drawn with half-cells (the renderer of tmux and plain terminals):
blurred by default, revealed, hidden again on the next item, a policy's `hidden`
default, and a reviewer's own choice, stronger and (refused) weaker.

The images come from a real loopback server on a port the OS picks; the port shows on
screen once media links are revealed, so it is written as a fixed number before the
picture is compared (same width, so the layout is what was drawn). Regenerate with
`pytest tests/tui/test_media_snapshots.py --snapshot-update` and look at the SVGs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_textual_snapshot import SVGImageExtension  # type: ignore[import-untyped]
from syrupy.assertion import SnapshotAssertion
from textual._doc import take_svg_screenshot
from textual.pilot import Pilot

from modqueue.guidelines import MediaView
from modqueue.queue import ReviewQueue
from modqueue.tui import TuiConfig
from modqueue.tui.app import ReviewApp
from tests.conftest import Clock
from tests.support.media_server import MediaServer
from tests.tui.media_support import media_app, media_items, serve_shapes
from tests.tui.test_snapshots import settled

SIZE = (120, 44)
FIXED_PORT = "50000"

Before = Callable[[Pilot[Any]], Awaitable[None]]


@pytest.fixture
def server() -> Iterator[MediaServer]:
    with MediaServer() as media_server:
        serve_shapes(media_server)
        yield media_server


@pytest.fixture
def snap_queue(tmp_path: Path, server: MediaServer) -> Iterator[ReviewQueue]:
    queue = ReviewQueue(f"sqlite:///{tmp_path}/snap.db", clock=Clock())
    queue.enqueue(media_items(server))
    yield queue
    queue.close()


def same_picture(
    snapshot: SnapshotAssertion, app: ReviewApp, server: MediaServer, run_before: Before
) -> bool:
    svg = take_svg_screenshot(app=app, terminal_size=SIZE, run_before=run_before)
    assert len(str(server.port)) == len(FIXED_PORT)
    svg = svg.replace(f"127.0.0.1:{server.port}", f"127.0.0.1:{FIXED_PORT}")
    return bool(snapshot.use_extension(SVGImageExtension) == svg)


def pressing(*keys: str) -> Before:
    async def run(pilot: Pilot[Any]) -> None:
        await settled(pilot)
        for key in keys:
            await pilot.press(key)
            await settled(pilot)

    return run


def test_media_blurred_by_default(
    snapshot: SnapshotAssertion, snap_queue: ReviewQueue, server: MediaServer
) -> None:
    app = media_app(snap_queue, server)
    assert same_picture(snapshot, app, server, pressing())


def test_media_revealed(
    snapshot: SnapshotAssertion, snap_queue: ReviewQueue, server: MediaServer
) -> None:
    app = media_app(snap_queue, server)
    assert same_picture(snapshot, app, server, pressing("r"))


def test_media_hidden_again_on_next_item(
    snapshot: SnapshotAssertion, snap_queue: ReviewQueue, server: MediaServer
) -> None:
    app = media_app(snap_queue, server)
    assert same_picture(snapshot, app, server, pressing("r", "1"))


def test_media_policy_hidden_by_default(
    snapshot: SnapshotAssertion, snap_queue: ReviewQueue, server: MediaServer
) -> None:
    app = media_app(snap_queue, server, queues=["image-abuse"])
    assert same_picture(snapshot, app, server, pressing())


def test_media_video_thumbnail(
    snapshot: SnapshotAssertion, snap_queue: ReviewQueue, server: MediaServer
) -> None:
    app = media_app(snap_queue, server, queues=["violent-threats"])
    assert same_picture(snapshot, app, server, pressing())


def test_media_reviewer_stronger_choice(
    snapshot: SnapshotAssertion, snap_queue: ReviewQueue, server: MediaServer
) -> None:
    config = TuiConfig(image_protocol="halfcell", media_view=MediaView.HIDDEN)
    app = media_app(snap_queue, server, config)
    assert same_picture(snapshot, app, server, pressing())


def test_media_reviewer_weaker_choice_refused(
    snapshot: SnapshotAssertion, snap_queue: ReviewQueue, server: MediaServer
) -> None:
    config = TuiConfig(image_protocol="halfcell", media_view=MediaView.CLEAR)
    app = media_app(snap_queue, server, config)
    assert same_picture(snapshot, app, server, pressing())
