"""Review screen latency with an image on screen: decision key to the next item.

    python bench/bench_media_latency.py [--db sqlite:////tmp/media-bench.db]
        [--pending 100000] [--decisions 100]

The database is filled like `bench_tui_latency.py` (every bench item carries one image).
Images come from a real loopback HTTP server (`tests.support.media_server.MediaServer`,
generated 640x480 JPEGs) through the safe fetcher, allowed for that server only. Two
runs of the real `ReviewApp` (Textual pilot, 120x40, half-cell images), paced (after
each key the bench waits until every worker is done, so the next item's blurred image
is on screen before the next key):

* `with media`: the shipped defaults: each item's image is fetched, decoded, blurred and
  drawn;
* `baseline: no media`: the same screen and items with `media_view = "hidden"`: nothing
  is fetched or drawn.

`key -> next item` runs from posting the key event until the item card shows another
item and the screen has refreshed; `key -> blurred image` until the next item's image is
drawn (with media only). Ratios are p95 against the baseline in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from PIL import Image, ImageDraw

from bench.bench_tui_latency import REVIEWER, decide_and_wait, prepare, summary
from modqueue.guidelines import MediaView
from modqueue.integrations.media import FetchedMedia, MediaConfig, fetch_media
from modqueue.queue import ReviewQueue
from modqueue.tui import TuiConfig
from modqueue.tui.app import ReviewApp
from modqueue.tui.components import ItemCard, MediaPanel
from modqueue.tui.screens import ReviewScreen
from tests.support.media_server import MediaServer

IMAGES = 10


def _jpeg(n: int) -> bytes:
    image = Image.new("RGB", (640, 480), (40 + 20 * n, 90, 160))
    draw = ImageDraw.Draw(image)
    draw.rectangle((60 + 10 * n, 60, 300, 260), fill="orange")
    draw.ellipse((320, 160, 560, 400), fill="white")
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85)
    return out.getvalue()


def loopback_fetch(server: MediaServer) -> tuple[MediaConfig, Callable[[str], FetchedMedia]]:
    """A fetch function sending each bench item's image URL to the loopback server."""
    config = MediaConfig(allow_hosts=(server.host_port,))

    def fetch(url: str) -> FetchedMedia:
        number = int(urlsplit(url).path.strip("/").split(".")[0] or 0)
        return fetch_media(server.url(f"/{number % IMAGES}.jpg"), config=config)

    return config, fetch


async def run(
    url: str, decisions: int, server: MediaServer, *, media: bool
) -> dict[str, list[float]]:
    """Seconds from each decision key to the next item (and to its image) on screen."""
    to_item: list[float] = []
    to_image: list[float] = []
    _, fetch = loopback_fetch(server)
    view = None if media else MediaView.HIDDEN
    config = TuiConfig(image_protocol="halfcell", media_view=view)
    with ReviewQueue(url, auto_migrate=False) as queue:
        app = ReviewApp(queue=queue, reviewer=REVIEWER, config=config, media_fetch=fetch)
        async with app.run_test(size=(120, 40)) as pilot:
            await app.workers.wait_for_complete()
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, ReviewScreen)
            card = screen.query_one(ItemCard)
            panel = screen.query_one(MediaPanel)
            for _ in range(decisions):
                started = time.perf_counter()
                await decide_and_wait(app, card)
                to_item.append(time.perf_counter() - started)
                if media:
                    while panel.shown_views().get(0) not in ("blurred", "failed"):
                        await asyncio.sleep(0.001)
                    assert panel.shown_views()[0] == "blurred", panel.shown_views()
                    drawn = asyncio.Event()
                    app.call_after_refresh(drawn.set)
                    await drawn.wait()
                    to_image.append(time.perf_counter() - started)
                for _ in range(10_000):  # the reviewer reads until everything is settled
                    await app.workers.wait_for_complete()
                    await pilot.pause()
                    if screen.inflight == 0 and len(screen.upcoming) >= 1:
                        break
            await app.workers.wait_for_complete()
            await pilot.press("q")
            await app.workers.wait_for_complete()
            await pilot.pause()
    return {"item": to_item, "image": to_image}


def main() -> None:
    """Run both on SQLite (and PostgreSQL with `--pg`)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default="sqlite:////tmp/media-bench.db", help="database URL")
    parser.add_argument("--pending", type=int, default=100_000)
    parser.add_argument("--decisions", type=int, default=100)
    args = parser.parse_args()
    print(f"{args.decisions} decisions, {args.pending:,} pending items, {os.cpu_count()} CPUs")
    prepare(args.db, args.pending, fresh=False)
    with MediaServer() as server:
        for n in range(IMAGES):
            server.add(f"/{n}.jpg", _jpeg(n), "image/jpeg")
        base = asyncio.run(run(args.db, args.decisions, server, media=False))
        with_media = asyncio.run(run(args.db, args.decisions, server, media=True))
    b = summary(base["item"])
    rows = {
        "baseline: no media, key -> next item": b,
        "with media, key -> next item": summary(with_media["item"]),
        "with media, key -> blurred image": summary(with_media["image"]),
    }
    for name, r in rows.items():
        print(
            f"  {name:<38} p50 {r['p50']:7.2f} ms  p95 {r['p95']:7.2f} ms  max {r['max']:7.2f} ms"
            f"  ratio p95 {r['p95'] / b['p95']:.2f}"
        )


if __name__ == "__main__":
    main()
