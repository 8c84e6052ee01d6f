"""A real local platform endpoint for action tests: a threaded HTTP server on 127.0.0.1.

`POST /p/<platform>/actions` checks the `X-Modqueue-Signature` against the platform's
secret (401 when wrong) and answers by the action's `external_id` prefix:

| prefix             | answer                                                           |
| ------------------ | ---------------------------------------------------------------- |
| `done-`            | 200 `{"status": "done", "reference": ...}`                       |
| `declined-`        | 200 `{"status": "declined", ...}`                                |
| `pending-done-`    | 200 `{"status": "pending", "reference": R}`; polls: pending, done |
| `pending-declined-`| the same, ending declined                                        |
| `accepted-`        | 202 with an empty body                                           |
| `conflict-`        | 409 (as if delivered before)                                     |
| `ratelimit-`       | 429 with `Retry-After: 7` the first time, then done              |
| `flaky-`           | 500 twice, then done                                             |
| `down-`            | 500 always                                                       |
| `bad-`             | 400 `{"error": ...}`                                             |
| `slow-`            | sleeps `slow_s` the first time (past the client's time-out), then done |
| `malformed-`       | 200 with an HTML body                                            |
| `endless-`         | 200 with a body that never ends (until the client hangs up)      |
| `bomb-`            | 200, gzip: 1 GiB of JSON whitespace in about 1 MB                |
| `deep-`            | 200 with JSON nested 100,000 levels deep                         |

Idempotency: the first accepted request of a key takes effect (counted in `effects`);
any later request with that key gets the stored answer again. `requests` counts every
request per key, `bad_signatures` the rejected ones. Every `delay_s` slows all answers.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from modqueue.integrations.actions import SIGNATURE_HEADER, sign, verify_signature
from tests.integrations.sources.feed_server import gzip_bomb

RETRY_AFTER_S = 7


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PlatformState:
    """What the fake platforms saw, shared with the handler threads."""

    secrets: dict[str, str]
    slow_s: float = 1.5
    delay_s: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)
    effects: Counter[str] = field(default_factory=Counter)
    requests: Counter[str] = field(default_factory=Counter)
    bad_signatures: Counter[str] = field(default_factory=Counter)
    stored: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    payloads: dict[str, dict[str, Any]] = field(default_factory=dict)
    polls: Counter[str] = field(default_factory=Counter)
    references: dict[str, str] = field(default_factory=dict)  # reference -> external_id


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _send(self, code: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Type", "application/json")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _platform(self) -> tuple[str, list[str]]:
        parts = self.path.strip("/").split("/")
        if len(parts) < 3 or parts[0] != "p":
            return "", parts
        return parts[1], parts[2:]

    def do_POST(self) -> None:
        state = self.server.state
        if state.delay_s:
            time.sleep(state.delay_s)
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        if len(body) < length:  # the client died mid-request (kill -9): nothing arrived
            self.close_connection = True
            return
        platform, rest = self._platform()
        key = self.headers.get("Idempotency-Key", "")
        secret = state.secrets.get(platform)
        if secret is None or rest != ["actions"]:
            self._send(404, b'{"error":"no such platform"}')
            return
        if not verify_signature(secret, body, self.headers.get(SIGNATURE_HEADER)):
            with state.lock:
                state.bad_signatures[key] += 1
            self._send(401, b'{"error":"bad signature"}')
            return
        payload = json.loads(body)
        assert payload["idempotency_key"] == key
        ext: str = payload["external_id"]
        with state.lock:
            state.requests[key] += 1
            nth = state.requests[key]
            stored = state.stored.get(key)
        if stored is not None:
            self._send(*stored)
            return
        if ext.startswith(("endless-", "bomb-")):
            self._hostile(ext)
            return
        code, reply, headers = self._answer(ext, key, nth)
        if code in (200, 202, 409):
            with state.lock:
                if key not in state.stored:
                    state.effects[key] += 1
                    state.stored[key] = (code, reply)
                    state.payloads[key] = payload
        self._send(code, reply, headers)

    def _hostile(self, ext: str) -> None:
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        try:
            if ext.startswith("bomb-"):
                bomb = gzip_bomb()
                self.send_header("Content-Encoding", "gzip")
                self.send_header("Content-Length", str(len(bomb)))
                self.end_headers()
                self.wfile.write(bomb)
                return
            self.end_headers()
            self.wfile.write(b'{"status": "done", "padding": "')
            chunk = b"x" * 65_536
            while True:
                self.wfile.write(chunk)
        except OSError:
            return  # the client hung up: what the test expects

    def _answer(self, ext: str, key: str, nth: int) -> tuple[int, bytes, dict[str, str]]:
        state = self.server.state
        ref = f"ref-{key[:12]}"

        def reply(status: str) -> bytes:
            return json.dumps({"status": status, "reference": ref}).encode()

        if ext.startswith("done-"):
            return 200, reply("done"), {}
        if ext.startswith("declined-"):
            return 200, reply("declined"), {}
        if ext.startswith("pending-"):
            with state.lock:
                state.references[ref] = ext
            return 200, reply("pending"), {}
        if ext.startswith("accepted-"):
            return 202, b"", {}
        if ext.startswith("conflict-"):
            return 409, b"", {}
        if ext.startswith("ratelimit-"):
            if nth == 1:
                return 429, b'{"error":"slow down"}', {"Retry-After": str(RETRY_AFTER_S)}
            return 200, reply("done"), {}
        if ext.startswith("flaky-"):
            if nth <= 2:
                return 500, b'{"error":"try later"}', {}
            return 200, reply("done"), {}
        if ext.startswith("down-"):
            return 503, b'{"error":"down"}', {}
        if ext.startswith("bad-"):
            return 400, b'{"error":"unknown content id"}', {}
        if ext.startswith("slow-"):
            if nth == 1:
                time.sleep(state.slow_s)
            return 200, reply("done"), {}
        if ext.startswith("malformed-"):
            return 200, b"<html>proxy error</html>", {}
        if ext.startswith("deep-"):
            return 200, b'{"status": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", {}
        return 200, reply("done"), {}

    def do_GET(self) -> None:
        state = self.server.state
        platform, rest = self._platform()
        secret = state.secrets.get(platform)
        if secret is None or len(rest) != 2 or rest[0] != "actions":
            self._send(404, b'{"error":"no such platform"}')
            return
        raw_path = self.path.encode()
        if self.headers.get(SIGNATURE_HEADER) != sign(secret, raw_path):
            self._send(401, b'{"error":"bad signature"}')
            return
        ref = rest[1]
        with state.lock:
            ext = state.references.get(ref)
            state.polls[ref] += 1
            n = state.polls[ref]
        if ext is None:
            self._send(404, b'{"error":"unknown reference"}')
            return
        status = "pending" if n < 2 else ext.split("-")[1]
        self._send(200, json.dumps({"status": status, "reference": ref}).encode())


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default 5 drops concurrent connects (1 s SYN retries)
    state: PlatformState

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out and hung up is part of the test, not an error.
        return


@dataclass
class PlatformServer:
    """A running server: its base URL and its shared state."""

    url: str
    state: PlatformState

    def action_url(self, platform: str) -> str:
        return f"{self.url}/p/{platform}/actions"

    def status_url(self, platform: str) -> str:
        return f"{self.url}/p/{platform}/actions/{{reference}}"


@contextmanager
def platform_server(secrets: dict[str, str], **options: Any) -> Iterator[PlatformServer]:
    """Run a `PlatformState` server on a free loopback port for the `with` block."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.state = PlatformState(secrets=secrets, **options)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield PlatformServer(f"http://{host!s}:{port}", server.state)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
