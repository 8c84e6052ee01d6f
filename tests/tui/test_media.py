"""Media in place on the review screen, on SQLite and PostgreSQL: protected by default,
per-policy defaults, the reviewer's own stronger choice, `r` and its audit events, and
hiding again on the next item. Images come from a real loopback HTTP server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image

from modqueue.guidelines import MediaView
from modqueue.queue import MEDIA_REVEALED, ReviewQueue
from modqueue.tui import TuiConfig
from modqueue.tui.app import ReviewApp
from tests.conftest import Clock
from tests.support.media_server import MediaServer
from tests.tui.conftest import SIZE, events, settle
from tests.tui.media_support import colours, is_grey, media_app, media_items, panel, serve_shapes


@pytest.fixture
def server() -> Iterator[MediaServer]:
    with MediaServer() as media_server:
        serve_shapes(media_server)
        yield media_server


@pytest.fixture
def media_queue(database_url: str, clock: Clock, server: MediaServer) -> Iterator[ReviewQueue]:
    queue = ReviewQueue(database_url, clock=clock)
    report = queue.enqueue(media_items(server))
    assert report.new == 4 and not report.rejected
    yield queue
    queue.close()


def shown(app: ReviewApp, index: int = 0) -> Image.Image:
    image = panel(app).slots[index].picture_data
    assert image is not None
    return image


def item_on_screen(app: ReviewApp) -> int | None:
    current = app.screen.current  # type: ignore[attr-defined]
    return None if current is None else int(current.item_id)


async def test_images_start_blurred_and_greyscale_and_r_reveals_them(
    media_queue: ReviewQueue, server: MediaServer
) -> None:
    app = media_app(media_queue, server)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert item_on_screen(app) == 1
        assert panel(app).shown_views() == {0: "blurred"}
        blurred = shown(app)
        assert is_grey(blurred)
        assert "/a.png" in server.requests
        assert events(media_queue, MEDIA_REVEALED) == []

        await pilot.press("r")
        await settle(app, pilot)
        assert panel(app).shown_views() == {0: "clear"}
        clear = shown(app)
        assert not is_grey(clear)
        assert clear.getpixel((8, 8)) == (255, 0, 0)  # the red square, untouched
        assert server.requests.count("/a.png") == 1  # revealed from memory, not fetched again
        assert events(media_queue, MEDIA_REVEALED) == [
            (
                1,
                {
                    "item_id": 1,
                    "policy": "people-smuggling",
                    "media_kind": "image",
                    "protection": "blurred",
                    "media_index": 0,
                },
            )
        ]
        assert events(media_queue, "revealed") == [(1, {"what": "media links"})]

        await pilot.press("r")  # hide again: not a reveal
        await settle(app, pilot)
        assert panel(app).shown_views() == {0: "blurred"}
        assert len(events(media_queue, MEDIA_REVEALED)) == 1


async def test_the_next_item_hides_everything_again(
    media_queue: ReviewQueue, server: MediaServer
) -> None:
    app = media_app(media_queue, server)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("r")
        await settle(app, pilot)
        assert panel(app).shown_views() == {0: "clear"}
        await pilot.press("1")
        await settle(app, pilot)
        assert item_on_screen(app) == 2
        assert panel(app).shown_views() == {0: "blurred"}
        assert is_grey(shown(app))
        assert colours(shown(app)) > 1  # a blurred picture, not a blank one
        assert [i for i, _ in events(media_queue, MEDIA_REVEALED)] == [1]


async def test_a_video_shows_its_thumbnail_and_its_reveal_counts_as_video(
    media_queue: ReviewQueue, server: MediaServer
) -> None:
    app = media_app(media_queue, server, queues=["violent-threats"])
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert item_on_screen(app) == 3
        assert panel(app).shown_views() == {0: "blurred"}
        assert "/thumb.png" in server.requests and "/v.mp4" not in server.requests
        await pilot.press("r")
        await settle(app, pilot)
        assert not is_grey(shown(app))
        [(item_id, detail)] = events(media_queue, MEDIA_REVEALED)
        assert (item_id, detail["media_kind"], detail["policy"]) == (3, "video", "violent-threats")


async def test_a_hidden_policy_fetches_nothing_until_r(
    media_queue: ReviewQueue, server: MediaServer
) -> None:
    app = media_app(media_queue, server, queues=["image-abuse"])
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert item_on_screen(app) == 4
        assert panel(app).shown_views() == {0: "hidden"}
        assert panel(app).slots[0].picture_data is None
        assert "/c.png" not in server.requests
        await pilot.press("r")
        await settle(app, pilot)
        assert panel(app).shown_views() == {0: "clear"}
        assert server.requests.count("/c.png") == 1
        [(_, detail)] = events(media_queue, MEDIA_REVEALED)
        assert (detail["policy"], detail["protection"]) == ("image-abuse", "hidden")
        await pilot.press("r")
        await settle(app, pilot)
        assert panel(app).shown_views() == {0: "hidden"}
        assert panel(app).slots[0].picture_data is None


@pytest.mark.parametrize(
    ("preference", "expected"),
    [
        (MediaView.HIDDEN, "hidden"),  # stronger than the policy's blurred: applies
        (MediaView.BLURRED, "blurred"),
        (MediaView.GREYSCALE, "blurred"),  # weaker: the policy's blurred applies
        (MediaView.CLEAR, "blurred"),
    ],
)
async def test_a_reviewer_may_choose_stronger_protection_never_weaker(
    media_queue: ReviewQueue, server: MediaServer, preference: MediaView, expected: str
) -> None:
    config = TuiConfig(image_protocol="halfcell", media_view=preference)
    app = media_app(media_queue, server, config)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert panel(app).shown_views() == {0: expected}
        note = str(app.screen.query_one("#media-note").render())
        weaker = preference.strength < MediaView.BLURRED.strength
        assert ("is weaker than the people-smuggling policy's 'blurred'" in note) is weaker
        if expected == "blurred":
            assert is_grey(shown(app))


async def test_an_unreachable_or_refused_image_says_why(
    database_url: str, clock: Clock, server: MediaServer
) -> None:
    queue = ReviewQueue(database_url, clock=clock)
    try:
        items: list[dict[str, Any]] = media_items(server)[:1]
        items[0]["media"] = [
            {"kind": "image", "url": server.url("/missing.png")},
            {"kind": "image", "url": "http://127.0.0.2:9/private.png"},
            {"kind": "audio", "url": "https://media.example.net/a.mp3"},
        ]
        queue.enqueue(items)
        app = media_app(queue, server)
        async with app.run_test(size=SIZE) as pilot:
            await settle(app, pilot)
            assert panel(app).shown_views() == {0: "failed", 1: "failed", 2: "none"}
            texts = [str(s.placeholder.render()) for s in panel(app).slots.values()]
            assert "HTTP 404" in texts[0]
            assert "not a public address" in texts[1]
            assert "not shown in place" in texts[2]
            await pilot.press("r")
            await settle(app, pilot)
            # both images were revealed (as links, and in place had they loaded); the
            # audio file is not drawn, so it is not a media reveal
            assert [d["media_index"] for _, d in events(queue, MEDIA_REVEALED)] == [0, 1]
    finally:
        queue.close()
