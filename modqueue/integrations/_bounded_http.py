"""Bounded HTTP replies: every reply modqueue reads is capped in bytes and in wall time.

A peer modqueue does not control (a platform feed, a platform's action or status
endpoint, a notifier, Label Studio) can answer with an endless body, a compressed bomb
or one byte every few seconds. Everything here reads a reply as a stream and stops it:

- past `ReplyLimits.max_bytes` bytes of body, counted after decompression, so a gzip
  bomb is caught after at most that many bytes (`ReplyTooLarge`);
- past `ReplyLimits.deadline_s` seconds for the whole exchange, from the request to the
  last byte of the body (`ReplyTooSlow`). A per-read time-out alone lets a trickle of
  one byte every few seconds go on for ever.

Only `gzip` and `deflate` bodies are asked for and accepted, and they are inflated here
with a bounded output, never more than the limit at a time.

- `send_limited(client, request, limits)`: a sync request; the deadline also covers
  the connection and the headers (a watchdog shuts the socket down when it passes).
- `asend_limited(client, request, limits)`: the same for an `httpx.AsyncClient`.
- `LimitedTransport(limits)`: an `httpx` transport applying the same bounds to every
  request, for clients built by a third-party SDK (Label Studio).
- `reply_json(response)`: the body decoded as JSON; JSON nested too deeply is refused
  with `malformed JSON: nested too deeply`.

Each returns or builds an ordinary `httpx.Response` whose `content` is the decoded body.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx

from modqueue._exceptions import ReplyTooLarge, ReplyTooSlow
from modqueue.queue import parse_json

__all__ = [
    "DEFAULT_REPLY_BYTES",
    "DEFAULT_REPLY_DEADLINE_S",
    "MIB",
    "LimitedTransport",
    "ReplyLimits",
    "asend_limited",
    "limited_client",
    "reply_json",
    "send_limited",
]

MIB = 1024 * 1024
DEFAULT_REPLY_BYTES = MIB
"""Default cap on a small reply (platform action and status replies, notifiers)."""
DEFAULT_REPLY_DEADLINE_S = 60.0
"""Default deadline of one small exchange."""
ACCEPT_ENCODING = "gzip, deflate"


@dataclass(frozen=True, slots=True)
class ReplyLimits:
    """The bounds on one reply: `max_bytes` of decoded body and `deadline_s` seconds for
    the whole exchange. `bytes_setting`/`deadline_setting` name the settings that set
    them, for the error messages."""

    max_bytes: int = DEFAULT_REPLY_BYTES
    deadline_s: float = DEFAULT_REPLY_DEADLINE_S
    bytes_setting: str = "max_reply_bytes"
    deadline_setting: str = "request_deadline_s"

    def too_large(self) -> ReplyTooLarge:
        """The error for a body over `max_bytes`."""
        return ReplyTooLarge(
            f"reply body over the {self.max_bytes:,}-byte limit ({self.bytes_setting})"
        )

    def too_slow(self) -> ReplyTooSlow:
        """The error for an exchange past `deadline_s`."""
        return ReplyTooSlow(
            f"no complete reply within {self.deadline_s:g}s ({self.deadline_setting})"
        )


class _Body:
    """Collects a body from its raw (encoded) chunks, inflating with a bounded output."""

    def __init__(self, encoding: str, limits: ReplyLimits, deadline: float) -> None:
        self.limits = limits
        self.deadline = deadline
        self.size = 0
        self.parts: list[bytes] = []
        self._raw_deflate = False
        codings = [c.strip().lower() for c in encoding.split(",") if c.strip()]
        codings = [c for c in codings if c != "identity"]
        if not codings:
            self._z: Any = None
        elif codings == ["gzip"] or codings == ["x-gzip"]:
            self._z = zlib.decompressobj(zlib.MAX_WBITS | 16)
        elif codings == ["deflate"]:
            self._z = zlib.decompressobj()
            self._raw_deflate = True  # may turn out to be raw deflate: see `feed`
        else:
            raise httpx.DecodingError(f"unsupported content-encoding {encoding!r}")

    def _add(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.limits.max_bytes:
            self.parts.clear()
            raise self.limits.too_large()
        if data:
            self.parts.append(data)

    def feed(self, raw: bytes) -> None:
        if time.monotonic() > self.deadline:
            raise self.limits.too_slow()
        if self._z is None:
            self._add(raw)
            return
        data = raw
        while data:
            room = self.limits.max_bytes - self.size + 1
            try:
                out = self._z.decompress(data, room)
            except zlib.error as exc:
                if self._raw_deflate and self.size == 0:
                    # "deflate" sent without its zlib wrapper: start again as raw deflate.
                    self._raw_deflate = False
                    self._z = zlib.decompressobj(-zlib.MAX_WBITS)
                    continue
                raise httpx.DecodingError(f"cannot inflate the reply body: {exc}") from None
            self._raw_deflate = False
            self._add(out)
            data = self._z.unconsumed_tail

    def finish(self) -> bytes:
        if self._z is not None:
            try:
                self._add(self._z.flush())
            except zlib.error as exc:
                raise httpx.DecodingError(f"cannot inflate the reply body: {exc}") from None
        body = b"".join(self.parts)
        self.parts.clear()
        return body


def _read(response: httpx.Response, limits: ReplyLimits, deadline: float) -> bytes:
    if response.is_stream_consumed:  # built in memory (a mock transport): already decoded
        return _in_memory(response, limits)
    body = _Body(response.headers.get("content-encoding", ""), limits, deadline)
    for chunk in response.iter_raw():
        body.feed(chunk)
    return body.finish()


def _in_memory(response: httpx.Response, limits: ReplyLimits) -> bytes:
    if len(response.content) > limits.max_bytes:
        raise limits.too_large()
    return response.content


def _complete(response: httpx.Response, body: bytes, request: httpx.Request) -> httpx.Response:
    """A plain, fully read response with the decoded `body` (no content-encoding)."""
    headers = [
        (k, v)
        for k, v in response.headers.multi_items()
        if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")
    ]
    return httpx.Response(
        response.status_code,
        headers=headers,
        content=body,
        request=request,
        extensions={k: v for k, v in response.extensions.items() if k != "network_stream"},
    )


class _Watchdog:
    """Shuts the request's socket down when the deadline passes, so a peer trickling
    its headers or body cannot hold the thread; `fired` tells it happened."""

    def __init__(self, deadline: float, chained: Callable[[str, dict[str, Any]], Any] | None):
        self.deadline = deadline
        self.fired = False
        self._chained = chained
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(max(0.0, deadline - time.monotonic()), self._fire)
        self._timer.daemon = True

    def trace(self, event: str, info: dict[str, Any]) -> None:
        if event == "connection.connect_tcp.complete":
            stream = info.get("return_value")
            sock = stream.get_extra_info("socket") if stream is not None else None
            with self._lock:
                self._sock = sock
                if self.fired:
                    self._shutdown()
        if self._chained is not None:
            self._chained(event, info)

    def _shutdown(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            self._shutdown()

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._timer.cancel()


def _prepare(request: httpx.Request, deadline: float) -> _Watchdog:
    request.headers["Accept-Encoding"] = ACCEPT_ENCODING
    dog = _Watchdog(deadline, request.extensions.get("trace"))
    request.extensions["trace"] = dog.trace
    return dog


def _exchange(
    request: httpx.Request,
    limits: ReplyLimits,
    send: Callable[[httpx.Request], httpx.Response],
) -> httpx.Response:
    """`send(request)` (a streamed response) under a watchdog, read within `limits`."""
    deadline = time.monotonic() + limits.deadline_s
    dog = _prepare(request, deadline)
    with dog:
        try:
            response = send(request)
            try:
                body = _read(response, limits, deadline)
            finally:
                response.close()
        except httpx.HTTPError:
            if dog.fired:
                raise limits.too_slow() from None
            raise
    return _complete(response, body, request)


def send_limited(
    client: httpx.Client, request: httpx.Request, limits: ReplyLimits
) -> httpx.Response:
    """Send `request` with `client` and read the reply within `limits`.

    Returns the fully read response (its `content` is the decoded body). Raises
    `ReplyTooLarge`, `ReplyTooSlow`, or the `httpx.HTTPError` of a failed exchange.
    The deadline covers connecting, the headers and the body when the connection is new
    (`limited_client()` makes every connection new); on a reused connection, the body.
    """
    return _exchange(request, limits, lambda r: client.send(r, stream=True))


async def asend_limited(
    client: httpx.AsyncClient, request: httpx.Request, limits: ReplyLimits
) -> httpx.Response:
    """`send_limited` for an `httpx.AsyncClient`; the deadline covers the whole exchange."""
    deadline = time.monotonic() + limits.deadline_s
    request.headers["Accept-Encoding"] = ACCEPT_ENCODING
    try:
        async with asyncio.timeout(limits.deadline_s):
            response = await client.send(request, stream=True)
            try:
                if response.is_stream_consumed:  # built in memory (a mock transport)
                    content = _in_memory(response, limits)
                else:
                    body = _Body(response.headers.get("content-encoding", ""), limits, deadline)
                    async for chunk in response.aiter_raw():
                        body.feed(chunk)
                    content = body.finish()
            finally:
                await response.aclose()
    except TimeoutError:
        raise limits.too_slow() from None
    return _complete(response, content, request)


def limited_client(**kwargs: Any) -> httpx.Client:
    """An `httpx.Client` that opens a new connection for each request, so that
    `send_limited`'s deadline covers connecting and the headers too."""
    return httpx.Client(
        transport=httpx.HTTPTransport(limits=httpx.Limits(max_keepalive_connections=0)),
        **kwargs,
    )


class LimitedTransport(httpx.BaseTransport):
    """An `httpx` transport that reads every reply within `limits` (for clients built
    by third-party SDKs): `httpx.Client(transport=LimitedTransport(limits))`.

    Replies reach the client fully read and decoded. Over the limits, the request
    raises `ReplyTooLarge` or `ReplyTooSlow`.
    """

    def __init__(self, limits: ReplyLimits, *, inner: httpx.BaseTransport | None = None) -> None:
        self.limits = limits
        self._inner = inner or httpx.HTTPTransport(limits=httpx.Limits(max_keepalive_connections=0))

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return _exchange(request, self.limits, self._inner.handle_request)

    def close(self) -> None:
        self._inner.close()


def reply_json(response: httpx.Response) -> Any:
    """The reply's body decoded as JSON. Raises `ValueError` naming the problem
    (`malformed JSON: ...`, including `nested too deeply`, or `invalid UTF-8`)."""
    try:
        text = response.content.decode(response.charset_encoding or "utf-8")
    except (UnicodeDecodeError, LookupError) as exc:
        raise ValueError(f"invalid text encoding ({exc})") from None
    return parse_json(text)
