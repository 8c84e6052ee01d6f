"""What a platform's answer means for an action: sent, done, declined, retry or failed."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any

import httpx

from modqueue._exceptions import ReplyLimitExceeded
from modqueue.integrations._bounded_http import reply_json

__all__ = [
    "Outcome",
    "OutcomeKind",
    "classify_error",
    "classify_limit",
    "classify_poll",
    "classify_response",
]

MAX_KEPT_TEXT = 4000
MAX_RETRY_AFTER_S = 86_400.0
PLATFORM_STATUSES = ("done", "declined", "pending")


class OutcomeKind(StrEnum):
    """How one delivery attempt (or one status poll) ended."""

    SENT = "sent"  # accepted, no outcome reported (or 409: delivered before)
    DONE = "done"
    DECLINED = "declined"
    FOLLOW_UP = "follow_up"  # accepted, the platform's outcome is pending: poll later
    RETRY = "retry"  # 429, 5xx, time-out, connection error, missing secret
    FAILED = "failed"  # any other 4xx, a malformed reply


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of one attempt: its kind, the reply kept, and why when it went wrong."""

    kind: OutcomeKind
    http_status: int | None = None
    reply: dict[str, Any] | None = None
    reference: str | None = None
    error: str | None = None
    retry_after: float | None = None


def _kept_reply(response: httpx.Response, parsed: Any) -> dict[str, Any]:
    body: Any = parsed if parsed is not None else response.text[:MAX_KEPT_TEXT]
    return {"http_status": response.status_code, "body": body}


def _parse_json(response: httpx.Response) -> tuple[Any, str | None]:
    """`(value, None)`, `(None, None)` for an empty body, or `(None, problem)`."""
    raw = response.content
    if not raw.strip():
        return None, None
    try:
        return reply_json(response), None
    except ValueError as exc:
        return None, f"not JSON ({exc})"


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


def _platform_outcome(
    response: httpx.Response, data: Any, *, poll: bool
) -> tuple[Outcome | None, str | None]:
    """Read `{"status": ..., "reference": ...}`; `(outcome, None)` or `(None, problem)`."""
    if not isinstance(data, dict):
        return None, f"expected a JSON object, got {type(data).__name__}"
    status = data.get("status")
    reference = data.get("reference")
    if reference is not None and not isinstance(reference, str | int):
        return None, f"'reference' must be a string, got {type(reference).__name__}"
    ref = str(reference) if reference is not None else None
    if status is None and not poll:
        return Outcome(
            OutcomeKind.SENT, response.status_code, _kept_reply(response, data), ref
        ), None
    if status not in PLATFORM_STATUSES:
        return None, f"'status' must be one of done, declined, pending; got {status!r}"
    kept = _kept_reply(response, data)
    if status == "done":
        return Outcome(OutcomeKind.DONE, response.status_code, kept, ref), None
    if status == "declined":
        return Outcome(OutcomeKind.DECLINED, response.status_code, kept, ref), None
    if poll:
        return Outcome(OutcomeKind.FOLLOW_UP, response.status_code, kept, ref), None
    if ref is None:
        return (
            Outcome(
                OutcomeKind.SENT,
                response.status_code,
                kept,
                None,
                "platform answered 'pending' without a reference: its outcome cannot be "
                "followed up",
            ),
            None,
        )
    return Outcome(OutcomeKind.FOLLOW_UP, response.status_code, kept, ref), None


def classify_response(response: httpx.Response, *, platform: str, secret_env: str) -> Outcome:
    """The outcome of a POST answered with `response` by `platform`.

    2xx (and 409, already delivered) count as delivered; a JSON reply's `status`
    (`done`, `declined`, `pending`) and `reference` record the platform's outcome.
    429 and 5xx are retried (honouring `Retry-After`); any other status fails the action
    at once with the reply kept. A 2xx whose reply is not the expected JSON fails the
    action with an error saying so (the request was accepted; a retry re-sends the same
    idempotency key).
    """
    code = response.status_code
    data, problem = _parse_json(response)
    if 200 <= code < 300 or code == 409:
        if data is None and problem is None:
            return Outcome(OutcomeKind.SENT, code, None)
        outcome = None
        if problem is None:
            outcome, problem = _platform_outcome(response, data, poll=False)
        if outcome is not None:
            return outcome
        if code == 409:
            return Outcome(OutcomeKind.SENT, code, _kept_reply(response, data))
        return Outcome(
            OutcomeKind.FAILED,
            code,
            _kept_reply(response, data),
            error=(
                f"platform {platform!r} accepted the action (HTTP {code}) but its reply is "
                f"malformed: {problem}; the reply is kept in `reply`"
            ),
        )
    kept = _kept_reply(response, data)
    if code == 429 or code >= 500:
        return Outcome(
            OutcomeKind.RETRY,
            code,
            kept,
            error=f"HTTP {code} from platform {platform!r}",
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )
    hint = ""
    if code in (401, 403):
        hint = f" (signature rejected? check the secret in ${secret_env})"
    snippet = json.dumps(kept["body"], ensure_ascii=False)[:300]
    return Outcome(
        OutcomeKind.FAILED,
        code,
        kept,
        error=f"HTTP {code} from platform {platform!r}{hint}: {snippet}",
    )


def classify_poll(response: httpx.Response, *, platform: str) -> Outcome:
    """The outcome of a status poll: done, declined, still pending (follow up) or retry."""
    code = response.status_code
    data, problem = _parse_json(response)
    if 200 <= code < 300 and problem is None and data is not None:
        outcome, problem = _platform_outcome(response, data, poll=True)
        if outcome is not None:
            return outcome
    elif 200 <= code < 300:
        problem = problem or "empty reply"
    else:
        problem = f"HTTP {code}"
    return Outcome(
        OutcomeKind.RETRY,
        code,
        _kept_reply(response, data),
        error=f"status poll at platform {platform!r}: {problem}",
        retry_after=parse_retry_after(response.headers.get("Retry-After")),
    )


def classify_error(exc: httpx.HTTPError, *, platform: str, timeout_s: float) -> Outcome:
    """A retryable outcome for a time-out or a connection error (never carries headers)."""
    if isinstance(exc, httpx.TimeoutException):
        error = f"no answer from platform {platform!r} within {timeout_s:g}s ({type(exc).__name__})"
    else:
        error = f"cannot reach platform {platform!r}: {type(exc).__name__}: {exc}"
    return Outcome(OutcomeKind.RETRY, None, None, error=error)


def classify_limit(exc: ReplyLimitExceeded, *, platform: str) -> Outcome:
    """A retryable outcome for a reply over its size or time bound (the action is sent
    again later with the same idempotency key)."""
    return Outcome(OutcomeKind.RETRY, None, None, error=f"reply from platform {platform!r}: {exc}")
