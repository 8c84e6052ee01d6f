"""HTTP feed sources against a real local feed server: paging, failures, exactly once."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlmodel import col

from modqueue.config import FeedSourceConfig, FolderSourceConfig, ModqueueConfig
from modqueue.integrations.sources import (
    FeedResponseError,
    FeedSource,
    FeedUnavailable,
    cursor_name,
)
from modqueue.logs import REDACTED, JsonFormatter, add_secret
from modqueue.queue import AuditEvent, Item, ReviewQueue, SyncCursor
from modqueue.scheduler import JobContext, default_jobs, run_once

from .feed_server import FeedServer


def feed_items(start: int, stop: int) -> list[dict[str, Any]]:
    return [
        {
            "external_id": f"f-{n}",
            "text": f"flagged post {n}",
            "policy": "people-smuggling",
            "signals": [{"name": "clf", "score": 0.4}],
        }
        for n in range(start, stop)
    ]


def feed_config(url: str, **overrides: Any) -> FeedSourceConfig:
    values: dict[str, Any] = {
        "kind": "http",
        "url": url,
        "timeout_s": 0.5,
        "max_attempts": 6,
        "backoff_s": 0.01,
        "backoff_max_s": 0.05,
        "page_limit": 50,
    }
    values.update(overrides)
    return FeedSourceConfig.model_validate(values)


def item_ids(queue: ReviewQueue) -> list[str]:
    with queue.session() as s:
        return list(s.scalars(select(col(Item.external_id)).where(col(Item.source) == "feed")))


def page_totals(queue: ReviewQueue) -> tuple[int, int]:
    """(new, merged) summed over every committed feed page."""
    with queue.session() as s:
        details = s.scalars(
            select(col(AuditEvent.detail)).where(col(AuditEvent.event) == "feed_page")
        ).all()
    return sum(d["new"] for d in details), sum(d["merged"] for d in details)


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer(feed_items(0, 230), page_size=50) as srv:
        yield srv


def test_pages_and_failures_arrive_exactly_once(
    review_queue: ReviewQueue, server: FeedServer
) -> None:
    server.script = {2: "500", 3: "429:7", 5: "slow:1.5", 6: "drop", 8: "503"}
    waits: list[float] = []
    source = FeedSource("feed", feed_config(server.url, timeout_s=0.3), sleep=waits.append)

    report = source.pull(review_queue)

    ids = item_ids(review_queue)
    assert sorted(ids) == sorted(f"f-{n}" for n in range(230))
    assert (report.new, report.merged, report.pages) == (230, 0, 5)
    assert len(waits) == 5  # one back-off wait per failed attempt
    assert max(waits) <= 0.05  # Retry-After: 7 capped by backoff_max_s
    assert source.stored_cursor(review_queue) == "230"
    assert page_totals(review_queue) == (230, 0)

    again = source.pull(review_queue)
    assert (again.new, again.pages) == (0, 0)
    server.add(feed_items(230, 260))
    more = source.pull(review_queue)
    assert (more.new, more.merged) == (30, 0)
    assert len(item_ids(review_queue)) == 260
    assert page_totals(review_queue) == (260, 0)


def test_retry_after_is_waited_for(review_queue: ReviewQueue, server: FeedServer) -> None:
    server.script = {1: "429:3"}
    waits: list[float] = []
    cfg = feed_config(server.url, backoff_max_s=10.0)
    FeedSource("feed", cfg, sleep=waits.append).pull(review_queue)
    assert waits == [3.0]
    assert len(item_ids(review_queue)) == 230


def test_server_restart_mid_feed_resumes_without_loss(
    review_queue: ReviewQueue, server: FeedServer
) -> None:
    source = FeedSource("feed", feed_config(server.url, max_attempts=2))
    first = source.pull(review_queue, max_pages=2)
    assert first.new == 100
    server.stop()
    with pytest.raises(FeedUnavailable, match=r"source feed: connection failed"):
        source.pull(review_queue)
    server.restart()
    rest = source.pull(review_queue)
    assert (rest.new, rest.merged) == (130, 0)
    assert sorted(item_ids(review_queue)) == sorted(f"f-{n}" for n in range(230))


def test_concurrent_pulls_commit_each_page_once(
    review_queue: ReviewQueue, server: FeedServer
) -> None:
    """Two pullers of one feed with no job lock: the cursor compare-and-set decides."""
    server.delay_s = 0.01
    source = FeedSource("feed", feed_config(server.url, page_limit=10))
    errors: list[BaseException] = []

    def pull() -> None:
        try:
            source.pull(review_queue)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=pull) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert sorted(item_ids(review_queue)) == sorted(f"f-{n}" for n in range(230))
    assert page_totals(review_queue) == (230, 0)
    with review_queue.session() as s:
        pages = s.scalar(
            select(func.count()).select_from(AuditEvent).where(col(AuditEvent.event) == "feed_page")
        )
    assert pages == 23


@pytest.mark.parametrize(
    ("action", "reason"),
    [
        ("html", r"response is not JSON \(text/html"),
        ("truncated", "response is not JSON"),
        ("schema", r"'items' must be a list \(got missing\)"),
    ],
)
def test_bad_response_is_logged_with_source_and_other_jobs_run(
    database_url: str,
    server: FeedServer,
    tmp_path: Any,
    caplog: pytest.LogCaptureFixture,
    action: str,
    reason: str,
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "ref.jsonl").write_text('{"external_id": "r-1", "text": "referral"}\n')
    config = ModqueueConfig(
        sources={
            "feed": feed_config(server.url),
            "referrals": FolderSourceConfig(kind="folder", path=inbox, settle_s=0),
        }
    )
    server.script = {2: action}
    queue = ReviewQueue(database_url)
    try:
        with caplog.at_level(logging.INFO, logger="modqueue"):
            results = run_once(default_jobs(config), JobContext(queue, config))
        by_name = {r.name: r for r in results}
        assert by_name["source:feed"].ok is False
        assert by_name["source:feed"].error is not None
        assert "source feed: page at cursor '50'" in by_name["source:feed"].error
        assert by_name["source:referrals"].ok and by_name["leases"].ok
        assert by_name["deadlines"].ok
        failures = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert len(failures) == 1
        assert getattr(failures[0], "source", None) == "feed"
        assert "source feed:" in failures[0].getMessage()
        with pytest.raises(FeedResponseError, match=reason):
            source = FeedSource("feed", feed_config(server.url))
            server.script = {len(server.requests) + 1: action}
            source.pull(queue)
        # The page before the bad one is kept; the bad one is not skipped.
        assert FeedSource("feed", feed_config(server.url)).stored_cursor(queue) == "50"
        with queue.session() as s:
            assert s.scalar(select(func.count()).select_from(Item)) == 51
        FeedSource("feed", feed_config(server.url)).pull(queue)
        assert len(item_ids(queue)) == 230
    finally:
        queue.close()


def test_token_is_sent_and_never_logged_or_shown(
    review_queue: ReviewQueue, caplog: pytest.LogCaptureFixture
) -> None:
    token = "tok-9f2c1d7e-very-secret"
    env = {"FEED_TOKEN": token}
    with FeedServer(feed_items(0, 120), page_size=50, token=token) as srv:
        srv.script = {2: "500"}
        cfg = feed_config(srv.url, token_env="FEED_TOKEN")
        source = FeedSource("feed", cfg, environ=env)
        with caplog.at_level(logging.DEBUG):
            report = source.pull(review_queue)
        assert report.new == 120
        assert {r["auth"] for r in srv.requests} == {f"Bearer {token}"}
        assert token not in caplog.text
        assert token not in repr(source) and token not in repr(cfg)

        wrong = FeedSource("feed2", cfg, environ={"FEED_TOKEN": "not-the-token"})
        before = len(srv.requests)
        with pytest.raises(FeedUnavailable, match=r"source feed2: HTTP 401 \(check the token\)"):
            wrong.pull(review_queue)
        assert len(srv.requests) == before + 1  # a 401 is not retried

        with pytest.raises(FeedUnavailable, match=r"FEED_TOKEN .* is not set"):
            FeedSource("feed3", cfg, environ={}).pull(review_queue)

    add_secret(token)
    record = logging.makeLogRecord({"msg": "header was Bearer %s", "args": (token,)})
    assert token not in JsonFormatter().format(record)
    assert REDACTED in JsonFormatter().format(record)


def test_invalid_items_are_rejected_and_the_page_still_advances(
    review_queue: ReviewQueue,
) -> None:
    items: list[Any] = [*feed_items(0, 3), {"external_id": "no-content"}, "not an object"]
    with FeedServer(items, page_size=10) as srv:
        report = FeedSource("feed", feed_config(srv.url)).pull(review_queue)
    assert report.new == 3
    assert [(r.position, r.external_id) for r in report.rejected] == [(3, "no-content"), (4, None)]
    with review_queue.session() as s:
        cursor = s.get(SyncCursor, cursor_name("feed"))
        assert cursor is not None and cursor.value == "5"
        detail = s.scalars(
            select(col(AuditEvent.detail)).where(col(AuditEvent.event) == "feed_page")
        ).one()
    assert detail is not None
    assert [r["position"] for r in detail["rejected"]] == [3, 4]
