"""Delivering the outbox: claim a batch, send it concurrently, record the outcomes.

Delivery is at least once: an action is claimed (and its attempt counted) before it is
sent, and its outcome recorded after, so a dispatcher that dies in between leaves the
action pending; it is sent again, with the same idempotency key, once its lease runs out.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypedDict, Unpack
from urllib.parse import quote

import httpx

from modqueue._exceptions import ReplyLimitExceeded
from modqueue.config import PlatformConfig
from modqueue.integrations._bounded_http import ReplyLimits, asend_limited
from modqueue.integrations.actions._outcome import (
    Outcome,
    OutcomeKind,
    classify_error,
    classify_limit,
    classify_poll,
    classify_response,
)
from modqueue.integrations.actions._payload import (
    SIGNATURE_HEADER,
    ClaimedAction,
    action_body,
    request_headers,
    sign,
)
from modqueue.integrations.actions._store import (
    RecordSummary,
    claim_due,
    claim_follow_ups,
    record_outcomes,
    record_polls,
    unconfigured_sources,
)
from modqueue.queue import ReviewQueue

__all__ = [
    "DispatchReport",
    "adispatch_due",
    "apoll_statuses",
    "dispatch_due",
    "poll_statuses",
    "run_dispatcher",
]

log = logging.getLogger("modqueue.actions")
USER_AGENT = "modqueue-actions/0.1"
DEFAULT_BATCH = 100


@dataclass
class DispatchReport(RecordSummary):
    """What one dispatch (or poll) pass did, in counts (`RecordSummary`'s, summed over its
    batches, and how many were claimed); `errors` lists `(action id, message)` for
    attempts that went wrong (at most 100 kept)."""

    claimed: int = 0
    batches: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)
    unconfigured: dict[str, int] = field(default_factory=dict)

    def add(self, summary: RecordSummary) -> None:
        """Add one recorded batch's counts."""
        for name in RecordSummary.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(summary, name))

    @property
    def busy(self) -> bool:
        """True when the pass claimed anything."""
        return self.claimed > 0

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON-able data."""
        return {
            "claimed": self.claimed,
            "done": self.done,
            "declined": self.declined,
            "sent": self.sent,
            "follow_up": self.follow_up,
            "retried": self.retried,
            "failed": self.failed,
            "stale": self.stale,
            "batches": self.batches,
            "errors": [{"action_id": i, "error": e} for i, e in self.errors],
            "unconfigured": self.unconfigured,
        }

    def summary(self) -> str:
        """One line: the non-zero counts."""
        parts = [
            f"{name.replace('_', '-')} {getattr(self, name)}"
            for name in ("claimed", "done", "declined", "sent", "follow_up", "retried", "failed")
            if getattr(self, name)
        ]
        return ", ".join(parts) or "nothing due"


class _RateLimiter:
    """Spaces request starts at least `1/rate` seconds apart."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self.next_at = 0.0
        self.lock = asyncio.Lock()

    async def wait(self) -> None:
        loop = asyncio.get_running_loop()
        async with self.lock:
            now = loop.time()
            start = max(now, self.next_at)
            self.next_at = start + self.interval
        if start > now:
            await asyncio.sleep(start - now)


class _Gate:
    """Per-platform concurrency bound and optional rate limit."""

    def __init__(self, cfg: PlatformConfig) -> None:
        self.semaphore = asyncio.Semaphore(cfg.concurrency)
        self.limiter = _RateLimiter(cfg.rate_per_s) if cfg.rate_per_s else None


def _client(platforms: Mapping[str, PlatformConfig]) -> httpx.AsyncClient:
    total = sum(cfg.concurrency for cfg in platforms.values()) or 1
    return httpx.AsyncClient(
        limits=httpx.Limits(max_connections=total, max_keepalive_connections=total),
        follow_redirects=False,
        headers={"User-Agent": USER_AGENT},
        trust_env=False,
    )


def _limits(cfg: PlatformConfig) -> ReplyLimits:
    """A platform's reply: at most `max_reply_bytes`, the whole exchange within
    `request_deadline_s`."""
    return ReplyLimits(
        max_bytes=cfg.max_reply_bytes,
        deadline_s=cfg.request_deadline_s,
        bytes_setting="max_reply_bytes",
        deadline_setting="request_deadline_s",
    )


def _secret(cfg: PlatformConfig, env: Mapping[str, str]) -> str | None:
    value = env.get(cfg.secret_env)
    return value if value else None


def _missing_secret(name: str, cfg: PlatformConfig) -> Outcome:
    return Outcome(
        OutcomeKind.RETRY,
        error=(
            f"environment variable {cfg.secret_env} (secret_env of [platforms.{name}]) is not "
            "set: the action cannot be signed, nothing was sent"
        ),
    )


def _action_request(
    client: httpx.AsyncClient, action: ClaimedAction, cfg: PlatformConfig, secret: str
) -> httpx.Request:
    body = action_body(action)
    headers = request_headers(action, secret, body)
    return client.build_request(
        "POST", cfg.action_url, content=body, headers=headers, timeout=cfg.timeout_s
    )


def _status_request(
    client: httpx.AsyncClient, action: ClaimedAction, cfg: PlatformConfig, secret: str
) -> httpx.Request:
    assert cfg.status_url is not None and action.reference is not None
    url = cfg.status_url.replace("{reference}", quote(action.reference, safe=""))
    target = httpx.URL(url).raw_path
    headers = {
        "Idempotency-Key": action.idempotency_key,
        SIGNATURE_HEADER: sign(secret, target),
    }
    return client.build_request("GET", url, headers=headers, timeout=cfg.timeout_s)


async def _exchange(
    client: httpx.AsyncClient,
    action: ClaimedAction,
    cfg: PlatformConfig,
    secret: str | None,
    gate: _Gate,
    *,
    poll: bool,
) -> Outcome:
    """Send `action` (`poll`: ask its status) once `gate` lets it through; its outcome."""
    if secret is None:
        return _missing_secret(action.source, cfg)
    request = (_status_request if poll else _action_request)(client, action, cfg, secret)
    async with gate.semaphore:
        if gate.limiter is not None:
            await gate.limiter.wait()
        try:
            response = await asend_limited(client, request, _limits(cfg))
        except ReplyLimitExceeded as exc:
            return classify_limit(exc, platform=action.source)
        except httpx.HTTPError as exc:
            return classify_error(exc, platform=action.source, timeout_s=cfg.timeout_s)
    if poll:
        return classify_poll(response, platform=action.source)
    return classify_response(response, platform=action.source, secret_env=cfg.secret_env)


async def _guarded(attempt: Awaitable[Outcome]) -> Outcome:
    """One action's unexpected error stays that action's: retried later, never the batch's."""
    try:
        return await attempt
    except Exception as exc:
        return Outcome(OutcomeKind.RETRY, error=f"unexpected error: {type(exc).__name__}: {exc}")


class PassOptions(TypedDict, total=False):
    """Options of a dispatch or status-poll run: `batch_size` actions per batch (default
    `DEFAULT_BATCH`), at most `max_batches`, secrets from `env` (default `os.environ`),
    and `stop`, checked between batches."""

    batch_size: int
    max_batches: int | None
    env: Mapping[str, str] | None
    stop: threading.Event | None


class AsyncPassOptions(PassOptions, total=False):
    """`PassOptions` and, for the async forms, the `client` to send with (default: one
    of the pass's own)."""

    client: httpx.AsyncClient | None


async def _passes(
    queue: ReviewQueue,
    platforms: Mapping[str, PlatformConfig],
    *,
    poll: bool,
    batch_size: int = DEFAULT_BATCH,
    max_batches: int | None = None,
    env: Mapping[str, str] | None = None,
    client: httpx.AsyncClient | None = None,
    stop: threading.Event | None = None,
) -> DispatchReport:
    environ: Mapping[str, str] = os.environ if env is None else env
    report = DispatchReport()
    if not platforms:
        return report
    secrets = {name: _secret(cfg, environ) for name, cfg in platforms.items()}
    gates = {name: _Gate(cfg) for name, cfg in platforms.items()}
    own = client is None
    http = client or _client(platforms)
    claimer = claim_follow_ups if poll else claim_due
    recorder = record_polls if poll else record_outcomes

    def claim() -> list[ClaimedAction]:
        if max_batches is not None and report.batches >= max_batches:
            return []
        if stop is not None and stop.is_set():
            return []
        return queue.run(partial(claimer, platforms=platforms, now=queue.clock(), limit=batch_size))

    def record(results: list[tuple[ClaimedAction, Outcome]]) -> RecordSummary:
        return queue.run(partial(recorder, results=results, platforms=platforms, now=queue.clock()))

    # Pipelined: batch N's outcomes are written (in a worker thread) while batch N+1 is
    # on the wire. Batch N+1 is claimed first; N's rows are leased, so it cannot overlap.
    recording: asyncio.Task[RecordSummary] | None = None
    try:
        claimed = claim()
        while claimed:
            report.batches += 1
            report.claimed += len(claimed)
            outcomes = await asyncio.gather(
                *(
                    _guarded(
                        _exchange(
                            http,
                            a,
                            platforms[a.source],
                            secrets[a.source],
                            gates[a.source],
                            poll=poll,
                        )
                    )
                    for a in claimed
                )
            )
            results = list(zip(claimed, outcomes, strict=True))
            for action, outcome in results:
                if outcome.error is not None:
                    log.warning("action %s: %s", action.id, outcome.error)
                    if len(report.errors) < 100:
                        report.errors.append((action.id, outcome.error))
            if recording is not None:
                report.add(await recording)
                recording = None
            claimed = claim()
            recording = asyncio.create_task(asyncio.to_thread(record, results))
        if recording is not None:
            report.add(await recording)
            recording = None
    finally:
        if recording is not None:  # an error above: still write what was delivered
            report.add(await recording)
        if own:
            await http.aclose()
    if not poll:
        report.unconfigured = queue.run(
            lambda s: unconfigured_sources(s, platforms=list(platforms), now=queue.clock())
        )
    return report


async def adispatch_due(
    queue: ReviewQueue, platforms: Mapping[str, PlatformConfig], **options: Unpack[AsyncPassOptions]
) -> DispatchReport:
    """Deliver every due pending action of the configured `platforms`, batch by batch.

    Each batch is claimed in one transaction, sent concurrently (at most `concurrency`
    requests in flight per platform, spaced by `rate_per_s` when set) and its outcomes
    recorded in one transaction. Stops when nothing is due, after `max_batches`, or
    once `stop` is set (between batches).
    Secrets are read from `env` (default `os.environ`) by each platform's `secret_env`.
    """
    return await _passes(queue, platforms, poll=False, **options)


def dispatch_due(
    queue: ReviewQueue, platforms: Mapping[str, PlatformConfig], **options: Unpack[PassOptions]
) -> DispatchReport:
    """Synchronous `adispatch_due` (runs its own event loop)."""
    return asyncio.run(_passes(queue, platforms, poll=False, **options))


async def apoll_statuses(
    queue: ReviewQueue, platforms: Mapping[str, PlatformConfig], **options: Unpack[AsyncPassOptions]
) -> DispatchReport:
    """Ask each platform's `status_url` about sent actions whose outcome is pending.

    `GET status_url` (with `{reference}` filled in) carries the action's
    `Idempotency-Key` and an `X-Modqueue-Signature` of the request path; a JSON reply
    with `status` done or declined ends the follow-up, anything else asks again after
    `status_poll_s`.
    """
    return await _passes(queue, platforms, poll=True, **options)


def poll_statuses(
    queue: ReviewQueue, platforms: Mapping[str, PlatformConfig], **options: Unpack[PassOptions]
) -> DispatchReport:
    """Synchronous `apoll_statuses` (runs its own event loop)."""
    return asyncio.run(_passes(queue, platforms, poll=True, **options))


def run_dispatcher(
    queue: ReviewQueue,
    platforms: Mapping[str, PlatformConfig],
    *,
    once: bool = False,
    batch_size: int = DEFAULT_BATCH,
    idle_s: float = 1.0,
    on_pass: Callable[[DispatchReport, DispatchReport], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> None:
    """Deliver and follow up, pass after pass, until `should_stop()` (or one pass with
    `once`); sleeps `idle_s` when a pass found nothing to do. `on_pass(delivered,
    polled)` sees each pass's reports."""

    async def main() -> None:
        async with _client(platforms) as client:
            while True:
                delivered = await adispatch_due(
                    queue, platforms, batch_size=batch_size, client=client
                )
                polled = await apoll_statuses(
                    queue, platforms, batch_size=batch_size, client=client
                )
                if on_pass is not None:
                    on_pass(delivered, polled)
                if once or should_stop():
                    return
                if not delivered.busy and not polled.busy:
                    deadline = time.monotonic() + idle_s
                    while time.monotonic() < deadline and not should_stop():
                        await asyncio.sleep(min(0.1, idle_s))
                if should_stop():
                    return

    asyncio.run(main())
