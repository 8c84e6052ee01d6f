"""Items whose media live on a real loopback `MediaServer`, and an app allowed to fetch
from exactly that server (`[media] allow_hosts`): public addresses only otherwise."""

from __future__ import annotations

from typing import Any

from PIL import Image, ImageChops

from modqueue.integrations.media import MediaConfig
from modqueue.queue import ReviewQueue
from modqueue.tui import TuiConfig
from modqueue.tui.app import ReviewApp
from modqueue.tui.components import MediaPanel
from tests.conftest import make_item
from tests.support.media_server import MediaServer, shape_png


def serve_shapes(server: MediaServer) -> None:
    """Generated shapes (no real photos) at /a.png, /b.png, /c.png and /thumb.png."""
    server.add("/a.png", shape_png(64, colour="red"))
    server.add("/b.png", shape_png(64, colour="green", seed=5))
    server.add("/c.png", shape_png(64, colour="orange", seed=9))
    server.add("/thumb.png", shape_png(64, colour="purple", seed=3))


def media_items(server: MediaServer) -> list[dict[str, Any]]:
    """Four items, claimed in this order (distinct views): a smuggling ad with an image, a
    second one with another image, a violent threat with a video and its thumbnail, an
    image-abuse post (`media_view: hidden`) with an image."""
    return [
        make_item(
            1,
            text="Boat to UK this Friday, 100% success.",
            url="https://social.example.com/p/1",
            media=[{"kind": "image", "url": server.url("/a.png")}],
            views=900_000,
            report_count=30,
        ),
        make_item(
            2,
            text="Crossing this week, DM me.",
            media=[{"kind": "image", "url": server.url("/b.png")}],
            views=500_000,
            report_count=20,
        ),
        make_item(
            3,
            text="This is what happens to informers.",
            policy="violent-threats",
            media=[
                {
                    "kind": "video",
                    "url": server.url("/v.mp4"),
                    "thumbnail_url": server.url("/thumb.png"),
                }
            ],
            views=1_000,
        ),
        make_item(
            4,
            text="Look at her pics lol",
            policy="image-abuse",
            media=[{"kind": "image", "url": server.url("/c.png")}],
            views=10,
        ),
    ]


def media_app(
    queue: ReviewQueue, server: MediaServer, config: TuiConfig | None = None, **kwargs: Any
) -> ReviewApp:
    """The review app on `queue`, fetching from `server` only. Images are drawn with
    half-cells (`image_protocol`), as in tmux: the renderer these tests are about."""
    return ReviewApp(
        queue=queue,
        reviewer="alice",
        config=config or TuiConfig(image_protocol="halfcell"),
        media=MediaConfig(allow_hosts=(server.host_port,)),
        **kwargs,
    )


def panel(app: ReviewApp) -> MediaPanel:
    return app.screen.query_one(MediaPanel)


def is_grey(image: Image.Image) -> bool:
    """Every pixel has equal red, green and blue."""
    red, green, blue = image.convert("RGB").split()
    return (
        ImageChops.difference(red, green).getbbox() is None
        and ImageChops.difference(green, blue).getbbox() is None
    )


def colours(image: Image.Image) -> int:
    """How many distinct colours the image has."""
    return len(image.convert("RGB").getcolors(maxcolors=1 << 24) or [])
