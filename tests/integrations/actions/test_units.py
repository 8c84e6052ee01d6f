"""Single edges: the wire format, Retry-After parsing, backoff, one action's odd failure."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from modqueue.config import PlatformConfig
from modqueue.integrations.actions import (
    ClaimedAction,
    action_body,
    adispatch_due,
    backoff_seconds,
    parse_retry_after,
    sign,
    verify_signature,
)
from modqueue.queue import ReviewQueue
from tests.integrations.actions.conftest import decide_items

ACTION = ClaimedAction(
    id=1,
    attempts=1,
    idempotency_key="k" * 32,
    action="remove",
    source="alpha",
    external_id="post-é",
    policy="hate",
    label="remove",
    reason="Remove",
    decided_at=datetime(2026, 11, 24, 9, 0, tzinfo=UTC),
)


def test_body_is_stable_and_signed_over_its_exact_bytes() -> None:
    body = action_body(ACTION)
    assert body == action_body(ACTION)
    assert json.loads(body)["decided_at"] == "2026-11-24T09:00:00Z"
    assert json.loads(body)["external_id"] == "post-é"
    expected = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert sign("s3cret", body) == f"sha256={expected}"
    assert verify_signature("s3cret", body, f"sha256={expected}")
    assert not verify_signature("other", body, f"sha256={expected}")
    assert not verify_signature("s3cret", body + b" ", f"sha256={expected}")
    assert not verify_signature("s3cret", body, None)


def test_retry_after_seconds_and_http_date() -> None:
    now = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(format_datetime(now + timedelta(seconds=90), usegmt=True), now) == 90.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
    assert parse_retry_after("-5") == 0.0
    assert parse_retry_after("99999999") == 86_400.0


def test_backoff_grows_with_jitter_and_honours_retry_after() -> None:
    cfg = PlatformConfig(
        action_url="http://127.0.0.1:1/a", secret_env="X", backoff_base_s=2, backoff_max_s=60
    )
    for attempt, ceiling in [(1, 2.0), (2, 4.0), (3, 8.0), (10, 60.0)]:
        delay = backoff_seconds(cfg, attempt, None)
        assert ceiling / 2 <= delay <= ceiling
    assert backoff_seconds(cfg, 1, 30.0) == 30.0


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_an_unexpected_error_stays_with_its_action(review_queue: ReviewQueue) -> None:
    ids = decide_items(review_queue, ["odd-1", "fine-1"])

    def handler(request: httpx.Request) -> httpx.Response:
        if json.loads(request.content)["external_id"] == "odd-1":
            raise RuntimeError("transport exploded")
        return httpx.Response(200, json={"status": "done", "reference": "r"})

    cfg = PlatformConfig(action_url="http://platform.test/actions", secret_env="ALPHA_SECRET")
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        report = await adispatch_due(
            review_queue, {"alpha": cfg}, env={"ALPHA_SECRET": "x"}, client=client
        )
    assert (report.done, report.retried) == (1, 1)
    assert report.errors == [(ids["odd-1"], "unexpected error: RuntimeError: transport exploded")]
