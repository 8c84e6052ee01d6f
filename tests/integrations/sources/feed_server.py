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
| `endless`     | 200 with a JSON body that never ends (no Content-Length)    |
| `trickle`     | 200 with a right page, sent one byte every 0.5 s            |
| `bomb`        | 200, gzip: 1 GiB of JSON whitespace in about 1 MB           |
| `deep`        | 200 with JSON nested 100,000 levels deep                    |
| `slowhead`    | a status line, then headers one byte every 0.5 s            |

`gzip = True` sends every normal page gzip-compressed.

`always` is the action of every request the script does not name. `busy` counts the
hostile answers (`endless`, `trickle`, `bomb`, `slowhead`) being written at this moment;
`hostile_started` is set when the first one begins.

`on_request(offset)` runs before a page is answered (a test can block there), and
`on_sent(offset)` after it was written.
"""

from __future__ import annotations

import functools
import json
import threading
import urllib.parse
import zlib
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CHUNK = b'{"external_id": "endless", "text": "' + b"x" * 65_000 + b'"}, '


@functools.cache
def gzip_bomb() -> bytes:
    """1 GiB of JSON whitespace inside an `items` list, gzipped (about 1 MB). Each 1 MiB
    block is compressed once after a full flush (so its bytes repeat exactly); the test
    process never holds the inflated form."""
    head, tail, spaces = b'{"items": [', b'], "next": null}', b" " * (1024 * 1024)
    z = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    start = z.compress(head) + z.flush(zlib.Z_FULL_FLUSH)
    block = z.compress(spaces) + z.flush(zlib.Z_FULL_FLUSH)
    end = z.compress(tail) + z.flush()
    crc = zlib.crc32(head)
    for _ in range(1024):
        crc = zlib.crc32(spaces, crc)
    crc = zlib.crc32(tail, crc)
    size = len(head) + 1024 * len(spaces) + len(tail)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    trailer = crc.to_bytes(4, "little") + (size % 2**32).to_bytes(4, "little")
    return header + start + block * 1024 + end + trailer


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
        self.always = ""
        self.gzip = False
        self.busy = 0
        self.hostile_started = threading.Event()
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

            def _hostile(self, action: str) -> None:
                self.close_connection = True
                if action == "slowhead":
                    self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Pad: ")
                    for _ in range(10_000):
                        self.wfile.write(b"a")
                        self.wfile.flush()
                        if feed._wake.wait(0.5):
                            return
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                if action == "bomb":
                    bomb = gzip_bomb()
                    self.send_header("Content-Encoding", "gzip")
                    self.send_header("Content-Length", str(len(bomb)))
                    self.end_headers()
                    self.wfile.write(bomb)
                    self.wfile.flush()
                    return
                if action == "trickle":
                    body = json.dumps({"items": feed.items[:1], "next": None}).encode()
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    for byte in body:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        if feed._wake.wait(0.5):
                            return
                    return
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(b'{"items": [')
                while not feed._wake.is_set():
                    self.wfile.write(CHUNK)

            def do_GET(self) -> None:
                parsed = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(parsed.query))
                with feed._lock:
                    feed.requests.append(
                        {"query": query, "auth": self.headers.get("Authorization")}
                    )
                    number = len(feed.requests)
                    action = feed.script.get(number, feed.always)
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
                if action in ("endless", "trickle", "bomb", "slowhead"):
                    with feed._lock:
                        feed.busy += 1
                    feed.hostile_started.set()
                    try:
                        self._hostile(action)
                    except OSError:
                        pass  # the client gave up: what the tests expect
                    finally:
                        with feed._lock:
                            feed.busy -= 1
                    return
                if action == "deep":
                    body = b'{"items": ' + b"[" * 100_000 + b"]" * 100_000 + b', "next": null}'
                    self._send(200, body, "application/json")
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
                extra = {}
                if feed.gzip:
                    z = zlib.compressobj(6, zlib.DEFLATED, zlib.MAX_WBITS | 16)
                    body = z.compress(body) + z.flush()
                    extra["Content_Encoding"] = "gzip"
                try:
                    self._send(200, body, "application/json", **extra)
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
