"""A real paged HTTP feed for the tests: a threaded `http.server` on a free loopback port.

`GET /flags?cursor=C&limit=L` answers `{"items": items[C:C+L], "next": "C+n"}` (`next`
is null once there is nothing after C). `script[n]` makes the n-th request (1-based)
misbehave:

| action        | answer                                                      |
| ------------- | ----------------------------------------------------------- |
| `500`, `503`  | that status                                                 |
| `429:S`       | 429 with `Retry-After: S`                                   |
| `slow:S`      | the right page, after S seconds (a client time-out)         |
| `drop`        | closes the connection without answering                    |
| `html`        | 200 with an HTML error page                                 |
| `truncated`   | 200 with JSON cut in the middle (correct Content-Length)    |
| `schema`      | 200 with JSON of the wrong shape                            |

`on_request(offset)` runs before a page is answered (a test can block there), and
`on_sent(offset)` after it was written.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FeedServer:
    def __init__(
        self, items: list[dict[str, Any]], *, page_size: int = 50, token: str | None = None
    ) -> None:
        self.items = items
        self.page_size = page_size
        self.token = token
        self.script: dict[int, str] = {}
        self.requests: list[dict[str, Any]] = []
        self.on_request: Callable[[int], None] | None = None
        self.on_sent: Callable[[int], None] | None = None
        self.delay_s = 0.0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/flags"

    def start(self) -> FeedServer:
        feed = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _send(self, status: int, body: bytes, ctype: str, **headers: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for key, value in headers.items():
                    self.send_header(key.replace("_", "-"), value)
                self.end_headers()
                self.wfile.write(body)
                self.wfile.flush()

            def do_GET(self) -> None:
                parsed = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(parsed.query))
                with feed._lock:
                    feed.requests.append(
                        {"query": query, "auth": self.headers.get("Authorization")}
                    )
                    number = len(feed.requests)
                    action = feed.script.get(number, "")
                if feed.token is not None and self.headers.get("Authorization") != (
                    f"Bearer {feed.token}"
                ):
                    self._send(401, b'{"error": "unauthorized"}', "application/json")
                    return
                if action in ("500", "503"):
                    self._send(int(action), b"oops", "text/plain")
                    return
                if action.startswith("429:"):
                    self._send(429, b"slow down", "text/plain", Retry_After=action[4:])
                    return
                if action == "drop":
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if action == "html":
                    self._send(200, b"<html><body>502 Bad Gateway</body></html>", "text/html")
                    return
                if action == "schema":
                    self._send(200, b'{"data": [], "cursor": 3}', "application/json")
                    return
                offset = int(query.get("cursor", "0"))
                limit = min(int(query.get("limit", feed.page_size)), feed.page_size)
                if feed.on_request is not None:
                    feed.on_request(offset)
                if action.startswith("slow:"):
                    feed._wake.wait(float(action[5:]))
                elif feed.delay_s:
                    feed._wake.wait(feed.delay_s)
                with feed._lock:
                    page = feed.items[offset : offset + limit]
                    more = len(feed.items) > offset
                body = json.dumps(
                    {"items": page, "next": str(offset + len(page)) if more else None}
                ).encode()
                if action == "truncated":
                    body = body[: len(body) // 2]
                try:
                    self._send(200, body, "application/json")
                except OSError:
                    return
                if feed.on_sent is not None:
                    feed.on_sent(offset)

        self._wake.clear()
        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._wake.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def restart(self) -> None:
        """Stop, then start again on the same port."""
        self.stop()
        self.start()

    def add(self, items: list[dict[str, Any]]) -> None:
        with self._lock:
            self.items.extend(items)

    def __enter__(self) -> FeedServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
