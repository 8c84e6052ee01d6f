"""Feed ingest: items per second pulled from a local HTTP feed vs direct `enqueue`.

Both runs store the same items in fresh databases in the same process:

- baseline: `ReviewQueue.enqueue(items)` (batches of 1,000, one commit each);
- feed: `FeedSource.pull()` from a threaded `http.server` on 127.0.0.1 serving pages of
  `--page` items (pre-serialised, so the server costs little), each page committed with
  its cursor in one transaction.

    .venv/bin/python -m bench.bench_feed_ingest [--items 100000] [--page 1000]
        [--pg postgresql://...]   # also run both on a PostgreSQL database

Prints items/s for each and the ratio feed / direct.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bench.texts import distinct_text
from modqueue.config import FeedSourceConfig
from modqueue.integrations.sources import FeedSource
from modqueue.queue import ReviewQueue

POLICIES = ["people-smuggling", "hate", "doxxing", "drug-supply", None]


def make_items(n: int) -> list[dict[str, Any]]:
    return [
        {
            "source": "feed",
            "external_id": f"post-{i}",
            "text": distinct_text(i, "synthetic flagged post with some words in it"),
            "policy": POLICIES[i % len(POLICIES)],
            "signals": [{"name": "clf-v2", "score": (i % 100) / 100}],
            "report_count": i % 7,
            "views": (i * 37) % 100_000,
            "flagged_at": "2026-11-24T08:00:00Z",
        }
        for i in range(n)
    ]


class Feed:
    """A paged feed over pre-serialised pages."""

    def __init__(self, items: list[dict[str, Any]], page: int) -> None:
        self.pages: dict[int, bytes] = {}
        for start in range(0, len(items) + 1, page):
            chunk = items[start : start + page]
            nxt = str(start + len(chunk)) if chunk else None
            self.pages[start] = json.dumps({"items": chunk, "next": nxt}).encode()
        feed = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
                body = feed.pages.get(int(query.get("cursor", "0")), b'{"items": [], "next": null}')
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/flags"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def run_direct(url: str, items: list[dict[str, Any]]) -> float:
    with ReviewQueue(url) as queue:
        started = time.perf_counter()
        report = queue.enqueue(items)
        seconds = time.perf_counter() - started
    assert report.new == len(items), report.to_dict()
    return seconds


def run_feed(url: str, feed: Feed, n: int, page: int) -> float:
    cfg = FeedSourceConfig(kind="http", url=feed.url, page_limit=page, timeout_s=60)
    with ReviewQueue(url) as queue:
        started = time.perf_counter()
        report = FeedSource("feed", cfg).pull(queue)
        seconds = time.perf_counter() - started
    assert report.new == n and report.merged == 0, report.to_dict()
    return seconds


def reset_pg(url: str) -> None:
    from sqlalchemy import create_engine, text

    from modqueue.settings import normalise_database_url

    engine = create_engine(normalise_database_url(url))
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--page", type=int, default=1000)
    parser.add_argument("--pg", help="also run on this (scratch!) PostgreSQL database URL")
    args = parser.parse_args(argv)
    items = make_items(args.items)
    feed = Feed(items, args.page)
    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            direct = run_direct(f"sqlite:///{Path(tmp) / 'direct.db'}", items)
            pulled = run_feed(f"sqlite:///{Path(tmp) / 'feed.db'}", feed, args.items, args.page)
            rows.append(("sqlite", direct, pulled))
        if args.pg:
            reset_pg(args.pg)
            direct = run_direct(args.pg, items)
            reset_pg(args.pg)
            pulled = run_feed(args.pg, feed, args.items, args.page)
            reset_pg(args.pg)
            rows.append(("postgresql", direct, pulled))
    finally:
        feed.close()
    print(f"feed ingest: {args.items:,} items, pages of {args.page:,}")
    print(f"{'backend':<12}{'direct items/s':>16}{'feed items/s':>16}{'feed/direct':>14}")
    for backend, direct, pulled in rows:
        print(
            f"{backend:<12}{args.items / direct:>16,.0f}{args.items / pulled:>16,.0f}"
            f"{direct / pulled:>14.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
