"""The bounded reply reader against a real local server, and the Label Studio client
(through label-studio-sdk) bounded by it."""

from __future__ import annotations

import json
import threading
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from modqueue._exceptions import IntegrationError, ReplyTooLarge
from modqueue.integrations._bounded_http import (
    ReplyLimits,
    limited_client,
    reply_json,
    send_limited,
)
from modqueue.integrations.labelstudio import LabelStudioClient, LabelStudioConnection
from tests.integrations.sources.feed_server import gzip_bomb

PROJECT = json.dumps({"id": 1, "title": "p"}).encode()


class Hostile:
    """A loopback server answering every GET as `mode` says."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.stop = threading.Event()
        hostile = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _head(self, **headers: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                for key, value in headers.items():
                    self.send_header(key.replace("_", "-"), value)
                self.end_headers()

            def _body(self, body: bytes, **headers: str) -> None:
                self._head(Content_Length=str(len(body)), **headers)
                self.wfile.write(body)

            def do_GET(self) -> None:
                mode = hostile.mode
                self.close_connection = True
                try:
                    if mode == "ok":
                        self._body(PROJECT)
                    elif mode == "deflate":
                        self._body(zlib.compress(PROJECT), Content_Encoding="deflate")
                    elif mode == "raw-deflate":
                        z = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
                        self._body(z.compress(PROJECT) + z.flush(), Content_Encoding="deflate")
                    elif mode == "br":
                        self._body(b"\x0b\x02\x80{}\x03", Content_Encoding="br")
                    elif mode == "bomb":
                        self._body(gzip_bomb(), Content_Encoding="gzip")
                    elif mode == "deep":
                        self._body(b"[" * 100_000 + b"]" * 100_000)
                    elif mode == "endless":
                        self._head(Connection="close")
                        while not hostile.stop.is_set():
                            self.wfile.write(b" " * 65_536)
                    elif mode == "trickle":
                        self._head(Content_Length=str(len(PROJECT)))
                        for byte in PROJECT:
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                            if hostile.stop.wait(0.5):
                                return
                except OSError:
                    return  # the client hung up: what the tests expect

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> Hostile:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def hostile() -> Iterator[Hostile]:
    with Hostile() as server:
        yield server


def _get(server: Hostile, limits: ReplyLimits) -> httpx.Response:
    with limited_client() as client:
        return send_limited(client, client.build_request("GET", server.url + "/x"), limits)


@pytest.mark.parametrize("mode", ["ok", "deflate", "raw-deflate"])
def test_plain_and_compressed_replies_are_read(hostile: Hostile, mode: str) -> None:
    hostile.mode = mode
    response = _get(hostile, ReplyLimits())
    assert reply_json(response) == {"id": 1, "title": "p"}
    assert "content-encoding" not in response.headers


def test_limits_and_encodings_are_enforced(hostile: Hostile) -> None:
    hostile.mode = "br"
    with pytest.raises(httpx.DecodingError, match="unsupported content-encoding 'br'"):
        _get(hostile, ReplyLimits())
    hostile.mode = "bomb"
    with pytest.raises(ReplyTooLarge, match=r"over the 1,048,576-byte limit \(max_reply_bytes\)"):
        _get(hostile, ReplyLimits())
    hostile.mode = "ok"
    with pytest.raises(ReplyTooLarge):
        _get(hostile, ReplyLimits(max_bytes=len(PROJECT) - 1))
    assert reply_json(_get(hostile, ReplyLimits(max_bytes=len(PROJECT)))) == {"id": 1, "title": "p"}
    hostile.mode = "deep"
    with pytest.raises(ValueError, match="malformed JSON: nested too deeply"):
        reply_json(_get(hostile, ReplyLimits()))


def _label_studio(url: str, **options: Any) -> LabelStudioClient:
    connection = LabelStudioConnection(
        url=url, api_key="legacy-token-0123", max_attempts=2, backoff_s=0.01, **options
    )
    return LabelStudioClient(connection, sleep=lambda _: None)


@pytest.mark.parametrize(
    ("mode", "error"),
    [
        (
            "endless",
            "reading project 1 failed after 2 attempts: ReplyTooLarge: reply body over the "
            "67,108,864-byte limit (max_response_bytes)",
        ),
        (
            "bomb",
            "reading project 1 failed after 2 attempts: ReplyTooLarge: reply body over the "
            "67,108,864-byte limit (max_response_bytes)",
        ),
        (
            "trickle",
            "reading project 1 failed after 2 attempts: ReplyTooSlow: no complete reply "
            "within 1.5s (timeout_s)",
        ),
        ("deep", "reading project 1 failed: malformed JSON: nested too deeply"),
    ],
)
def test_label_studio_replies_are_bounded(hostile: Hostile, mode: str, error: str) -> None:
    hostile.mode = mode
    # the product's byte cap; a short deadline only where the deadline is the subject
    client = _label_studio(hostile.url, timeout_s=1.5 if mode == "trickle" else 60.0)
    with pytest.raises(IntegrationError) as raised:
        client.get_project(1)
    assert str(raised.value) == f"Label Studio at {hostile.url}: {error}"
