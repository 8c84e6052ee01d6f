"""HTTP feed sources: `GET url?cursor=C` pages of flagged items, pulled exactly once.

The protocol: `GET url` (first page) or `GET url?cursor=C` answers
`{"items": [...], "next": "C2"}`, or `"next": null` when there is nothing more for now.
Each request also carries `limit=page_limit`, and `Authorization: Bearer <token>` when the
source has a `token_env`.

Bounded: a page is read as a stream, at most `max_page_bytes` of body (counted after
decompression) within `request_deadline_s` for the whole request; past either limit the
attempt fails like a time-out and is retried with back-off. JSON nested too deeply is
refused as a bad answer.

Exactly once: a page's items and the cursor that follows it are committed in ONE
transaction, and only if the stored cursor is still the one the page was fetched with (a
compare-and-set under a lock). A crash before the commit loses nothing (the page is
fetched again); after it, the page is never fetched again. A second process pulling the
same feed at the same time commits nothing twice.
"""

from __future__ import annotations

import email.utils
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC
from typing import Any

import httpx
from sqlalchemy import text
from sqlmodel import Session

from modqueue._exceptions import ReplyLimitExceeded
from modqueue.config import FeedSourceConfig
from modqueue.integrations._bounded_http import (
    ReplyLimits,
    limited_client,
    reply_json,
    send_limited,
)
from modqueue.integrations.sources._common import SourceError, SourceReport
from modqueue.queue import ReviewQueue, SyncCursor, check_items, ingest_batch, record_event
from modqueue.queue.locks import advisory_key

__all__ = ["FeedPage", "FeedResponseError", "FeedSource", "FeedUnavailable", "cursor_name"]

MAX_PAGES_PER_PULL = 100_000
RETRYABLE_STATUS = {408, 425, 429, 500, 502, 503, 504}
_log = logging.getLogger("modqueue.sources.feed")


class FeedUnavailable(SourceError):
    """The feed did not answer usefully after every attempt (5xx, 429, time-outs, refused
    connections), or refused the request outright (401, 403, 404, ...)."""


class FeedResponseError(SourceError):
    """The feed answered 200 with a body that is not a page: HTML, truncated or malformed
    JSON, or JSON of the wrong shape."""


@dataclass(frozen=True, slots=True)
class FeedPage:
    """One decoded page: its raw items and the cursor of the next page (None: the end)."""

    items: list[Any]
    next: str | None


def cursor_name(source: str) -> str:
    """The `SyncCursor` name that holds a feed source's position."""
    return f"feed:{source}"


def _retry_after(response: httpx.Response, now: float) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


def _snippet(body: bytes) -> str:
    shown = body[:60].decode("utf-8", "replace")
    return repr(shown) + ("..." if len(body) > 60 else "")


class FeedSource:
    """A configured HTTP feed; `pull(queue)` ingests every new page.

    `client` lets a caller share an `httpx.Client`; `sleep(seconds)` is how back-off
    waits (default: waits on `stop`, so a stop request cuts the wait short). The token is
    read from the environment at each request and is never stored on the object, logged
    or shown in its repr.
    """

    def __init__(
        self,
        name: str,
        config: FeedSourceConfig,
        *,
        client: httpx.Client | None = None,
        sleep: Callable[[float], None] | None = None,
        environ: Mapping[str, str] | None = None,
        log: logging.Logger | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self._client = client
        self._sleep = sleep
        self._environ = environ if environ is not None else os.environ
        self.log = log or _log

    def __repr__(self) -> str:
        return f"FeedSource(name={self.name!r}, url={self.config.url!r})"

    # -- HTTP -------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": "modqueue"}
        env = self.config.token_env
        if env:
            token = self._environ.get(env)
            if not token:
                raise FeedUnavailable(
                    self.name, f"environment variable {env} (token_env) is not set"
                )
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def _wait(self, seconds: float, stop: threading.Event | None) -> None:
        if self._sleep is not None:
            self._sleep(seconds)
        elif stop is not None:
            stop.wait(seconds)
        else:
            time.sleep(seconds)

    def _backoff(self, attempt: int) -> float:
        base = self.config.backoff_s * math.pow(2, attempt - 1)
        return min(self.config.backoff_max_s, base)

    def fetch(
        self,
        cursor: str | None,
        *,
        stop: threading.Event | None = None,
        client: httpx.Client | None = None,
    ) -> FeedPage:
        """Fetch and decode the page at `cursor`, retrying what is worth retrying.

        Raises `FeedUnavailable` after `max_attempts` failed attempts (or at once for a
        4xx other than 408/425/429), `FeedResponseError` for a body that is not a page.
        """
        params: dict[str, str | int] = {"limit": self.config.page_limit}
        if cursor is not None:
            params["cursor"] = cursor
        given = client or self._client
        if given is not None:
            return self._fetch_with_retries(given, params, cursor, stop)
        with limited_client() as own:
            return self._fetch_with_retries(own, params, cursor, stop)

    def _limits(self) -> ReplyLimits:
        return ReplyLimits(
            max_bytes=self.config.max_page_bytes,
            deadline_s=self.config.request_deadline_s,
            bytes_setting="max_page_bytes",
            deadline_setting="request_deadline_s",
        )

    def _fetch_with_retries(
        self,
        client: httpx.Client,
        params: dict[str, str | int],
        cursor: str | None,
        stop: threading.Event | None,
    ) -> FeedPage:
        attempts = self.config.max_attempts
        problem = "no attempt made"
        per_read = min(self.config.timeout_s, self.config.request_deadline_s)
        for attempt in range(1, attempts + 1):
            delay: float | None = None
            try:
                request = client.build_request(
                    "GET", self.config.url, params=params, headers=self._headers(), timeout=per_read
                )
                response = send_limited(client, request, self._limits())
            except ReplyLimitExceeded as exc:
                problem = str(exc)
            except httpx.TimeoutException:
                problem = f"timed out after {per_read:g}s"
            except httpx.TransportError as exc:
                problem = f"connection failed ({type(exc).__name__})"
            except httpx.DecodingError as exc:
                problem = f"undecodable body ({exc})"
            else:
                if response.status_code == 200:
                    return self._decode(response, cursor)
                problem = f"HTTP {response.status_code}"
                if response.status_code not in RETRYABLE_STATUS:
                    hint = " (check the token)" if response.status_code in (401, 403) else ""
                    raise FeedUnavailable(self.name, f"{problem}{hint}; not retried")
                retry_after = _retry_after(response, time.time())
                if retry_after is not None:
                    delay = min(retry_after, self.config.backoff_max_s)
                    problem += f", Retry-After {retry_after:g}s"
            if attempt == attempts or (stop is not None and stop.is_set()):
                break
            delay = self._backoff(attempt) if delay is None else delay
            self.log.warning(
                "source %s: %s; retry %d/%d in %.2fs",
                self.name,
                problem,
                attempt,
                attempts - 1,
                delay,
                extra={"source": self.name, "attempt": attempt, "delay_s": delay},
            )
            self._wait(delay, stop)
        raise FeedUnavailable(self.name, f"{problem} (gave up after {attempt} attempt(s))")

    def _decode(self, response: httpx.Response, cursor: str | None) -> FeedPage:
        at = f"page at cursor {cursor!r}" if cursor is not None else "first page"
        body = response.content
        kind = response.headers.get("content-type", "no content type")
        try:
            data = reply_json(response)
        except ValueError as exc:
            raise FeedResponseError(
                self.name, f"{at}: response is not JSON ({kind}; {exc}): {_snippet(body)}"
            ) from None
        if not isinstance(data, dict):
            raise FeedResponseError(
                self.name, f"{at}: expected a JSON object, got {type(data).__name__}"
            )
        items = data.get("items")
        if not isinstance(items, list):
            got = "missing" if "items" not in data else type(items).__name__
            raise FeedResponseError(self.name, f"{at}: 'items' must be a list (got {got})")
        nxt = data.get("next")
        if nxt is not None and not isinstance(nxt, str):
            raise FeedResponseError(
                self.name, f"{at}: 'next' must be a string or null (got {type(nxt).__name__})"
            )
        if nxt is not None and not nxt:
            raise FeedResponseError(self.name, f"{at}: 'next' is an empty string")
        return FeedPage(items=items, next=nxt)

    # -- the pull ---------------------------------------------------------------------

    def stored_cursor(self, queue: ReviewQueue) -> str | None:
        """The cursor stored for this source (None: start from the first page)."""

        def work(session: Session) -> str | None:
            row = session.get(SyncCursor, cursor_name(self.name))
            return row.value if row is not None else None

        return queue.run(work)

    def pull(
        self,
        queue: ReviewQueue,
        *,
        stop: threading.Event | None = None,
        max_pages: int = MAX_PAGES_PER_PULL,
    ) -> SourceReport:
        """Ingest pages from the stored cursor on until the feed says there is no more.

        Each page is committed with its next cursor in one transaction. Stops early,
        between pages, when `stop` is set. Raises `FeedUnavailable` or
        `FeedResponseError` (pages committed before stay committed).
        """
        if self._client is not None:
            return self._pull(queue, self._client, stop, max_pages)
        with limited_client() as client:
            return self._pull(queue, client, stop, max_pages)

    def _pull(
        self,
        queue: ReviewQueue,
        client: httpx.Client,
        stop: threading.Event | None,
        max_pages: int,
    ) -> SourceReport:
        report = SourceReport(self.name)
        cursor = self.stored_cursor(queue)
        report.cursor = cursor
        for _ in range(max_pages):
            if stop is not None and stop.is_set():
                break
            page = self.fetch(cursor, stop=stop, client=client)
            done = page.next is None or page.next == cursor
            if not page.items and done:
                break
            if not self._commit(queue, cursor, page, report):
                # Another process advanced the cursor first: carry on from where it is.
                cursor = self.stored_cursor(queue)
                report.cursor = cursor
                continue
            if page.next is not None:
                cursor = page.next
            report.cursor = cursor
            report.pages += 1
            if done:
                break
        return report

    def _commit(
        self, queue: ReviewQueue, cursor: str | None, page: FeedPage, report: SourceReport
    ) -> bool:
        """Store the page's items and its next cursor atomically; False if the stored
        cursor is no longer `cursor` (someone else stored this page)."""
        valid, rejected = check_items(page.items, source=self.name, guidelines=queue.guidelines)
        name = cursor_name(self.name)
        next_cursor = page.next if page.next is not None else cursor

        def work(session: Session) -> tuple[int, int] | None:
            if session.get_bind().dialect.name == "postgresql":
                session.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": advisory_key(name)}
                )
            row = session.get(SyncCursor, name, with_for_update=True)
            if (row.value if row is not None else None) != cursor:
                return None
            now = queue.clock()
            new, merged = ingest_batch(
                session,
                items=valid,
                guidelines=queue.guidelines,
                now=now,
                actor=name,
                flaggers=queue.flaggers,
                floods=queue.floods,
            )
            if next_cursor is not None:
                if row is None:
                    session.add(SyncCursor(name=name, value=next_cursor, updated_at=now))
                else:
                    row.value = next_cursor
                    row.updated_at = now
            record_event(
                session,
                actor=name,
                event="feed_page",
                at=now,
                before={"cursor": cursor},
                after={"cursor": next_cursor},
                detail={
                    "source": self.name,
                    "items": len(page.items),
                    "new": new,
                    "merged": merged,
                    "rejected": [
                        {"position": r.position, "reason": r.reason, "external_id": r.external_id}
                        for r in rejected
                    ],
                },
            )
            return new, merged

        counts = queue.run(work)
        if counts is None:
            self.log.info(
                "source %s: page at cursor %r already stored by another process",
                self.name,
                cursor,
                extra={"source": self.name},
            )
            return False
        report.new += counts[0]
        report.merged += counts[1]
        report.rejected.extend(rejected)
        for r in rejected:
            self.log.warning(
                "source %s: item %d of page at cursor %r rejected: %s",
                self.name,
                r.position,
                cursor,
                r.reason,
                extra={"source": self.name, "external_id": r.external_id},
            )
        return True
