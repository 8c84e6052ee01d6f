"""Hostile feeds and drop folders: every page and file is bounded in bytes and time.

Real local servers and real files, on both backends. No timing assertions: time-outs
here only stop a test that would otherwise hang.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import col

from modqueue._exceptions import ConfigError
from modqueue.config import FeedSourceConfig, FolderSourceConfig, ModqueueConfig, load_config
from modqueue.integrations.sources import (
    FeedResponseError,
    FeedSource,
    FeedUnavailable,
    FolderSource,
    cursor_name,
)
from modqueue.queue import Item, ReviewQueue, SyncCursor
from modqueue.scheduler import JobContext, JobSpec, Scheduler, default_jobs

from .feed_server import FeedServer
from .test_feed import feed_items

GUARD_S = 120.0  # only stops a hung test; nothing here is timed


def external_ids(queue: ReviewQueue, source: str) -> list[str]:
    with queue.session() as s:
        return sorted(s.scalars(select(col(Item.external_id)).where(col(Item.source) == source)))


def stored_cursor(queue: ReviewQueue, name: str) -> str | None:
    with queue.session() as s:
        row = s.get(SyncCursor, cursor_name(name))
        return row.value if row is not None else None


LIMIT_ERRORS = {
    "endless": "reply body over the 33,554,432-byte limit (max_page_bytes)",
    "bomb": "reply body over the 33,554,432-byte limit (max_page_bytes)",
    "trickle": "no complete reply within 2s (request_deadline_s)",
}


@pytest.mark.parametrize("action", sorted(LIMIT_ERRORS))
def test_a_hostile_page_fails_is_retried_and_keeps_the_pages_before(
    review_queue: ReviewQueue, action: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="modqueue.sources.feed")
    with FeedServer(feed_items(0, 80), page_size=50) as server:
        server.script = {2: action, 3: action}
        # The product's byte cap; a short deadline so that the trickle test is quick, and
        # a per-read time-out longer than the trickle's pauses (the deadline must stop it).
        config = FeedSourceConfig(
            kind="http",
            url=server.url,
            timeout_s=5,
            request_deadline_s=2,
            max_attempts=2,
            backoff_s=0.01,
            page_limit=50,
        )
        source = FeedSource("feed", config)
        with pytest.raises(FeedUnavailable) as raised:
            source.pull(review_queue)
        message = str(raised.value)
        assert message == f"source feed: {LIMIT_ERRORS[action]} (gave up after 2 attempt(s))"
        # retried with back-off, logged with the source's name
        retries = [r.getMessage() for r in caplog.records]
        assert retries == [f"source feed: {LIMIT_ERRORS[action]}; retry 1/1 in 0.01s"]
        # the first page stays accepted, the cursor stays before the bad page
        assert external_ids(review_queue, "feed") == sorted(f"f-{n}" for n in range(50))
        assert stored_cursor(review_queue, "feed") == "50"

        # once the feed behaves, the next run carries on from there
        report = FeedSource("feed", config).pull(review_queue)
        assert report.new == 30
        assert len(external_ids(review_queue, "feed")) == 80


def test_headers_trickled_one_byte_at_a_time_are_cut_at_the_deadline(
    review_queue: ReviewQueue,
) -> None:
    with FeedServer(feed_items(0, 10)) as server:
        server.always = "slowhead"
        config = FeedSourceConfig(
            kind="http", url=server.url, timeout_s=5, request_deadline_s=1.5, max_attempts=1
        )
        with pytest.raises(FeedUnavailable, match=r"no complete reply within 1\.5s"):
            FeedSource("feed", config).pull(review_queue)
    assert external_ids(review_queue, "feed") == []


def test_json_nested_too_deeply_is_a_bad_answer(review_queue: ReviewQueue) -> None:
    with FeedServer(feed_items(0, 80), page_size=50) as server:
        server.script = {2: "deep"}
        source = FeedSource("feed", FeedSourceConfig(kind="http", url=server.url, page_limit=50))
        with pytest.raises(FeedResponseError) as raised:
            source.pull(review_queue)
    assert "source feed: page at cursor '50': response is not JSON" in str(raised.value)
    assert "malformed JSON: nested too deeply" in str(raised.value)
    assert len(external_ids(review_queue, "feed")) == 50


def test_a_gzipped_page_within_the_limit_is_read(review_queue: ReviewQueue) -> None:
    """The bounded reader inflates gzip itself; a normal compressed page still works."""
    with FeedServer(feed_items(0, 20), page_size=50) as server:
        server.gzip = True
        report = FeedSource("feed", FeedSourceConfig(kind="http", url=server.url)).pull(
            review_queue
        )
    assert report.new == 20


def referral(n: int) -> str:
    item = {"external_id": f"ref-{n}", "text": f"referred post {n}", "policy": "hate"}
    return json.dumps(item) + "\n"


def test_an_oversized_file_is_rejected_unread_and_the_others_are_ingested(
    review_queue: ReviewQueue, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    config = FolderSourceConfig(kind="folder", path=inbox, settle_s=0)  # product limit: 64 MiB
    (inbox / "a-good.jsonl").write_text(referral(1) + referral(2))
    huge = inbox / "b-huge.jsonl"
    with huge.open("wb") as out:  # sparse: 65 MiB that take no room on the disk
        out.write(referral(3).encode())
        out.truncate(65 * 1024 * 1024)
    (inbox / "c-good.jsonl").write_text(referral(4))

    report = FolderSource("referrals", config).pull(review_queue)

    assert report.files == 3 and report.new == 3
    assert external_ids(review_queue, "referrals") == ["ref-1", "ref-2", "ref-4"]
    assert sorted(p.name for p in (inbox / "done").iterdir()) == ["a-good.jsonl", "c-good.jsonl"]
    assert sorted(p.name for p in (inbox / "rejected").iterdir()) == [
        "b-huge.jsonl",
        "b-huge.jsonl.rejects",
    ]
    reason = (inbox / "rejected" / "b-huge.jsonl.rejects").read_text()
    assert reason == (
        "file is over the 67,108,864-byte limit (max_file_bytes; 68,157,440 bytes or more); "
        "nothing ingested\n"
    )
    assert [r.reason for r in report.rejected] == [reason.strip()]


def test_a_line_over_the_line_limit_in_a_dropped_file_is_rejected_alone(
    review_queue: ReviewQueue, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    config = FolderSourceConfig(kind="folder", path=inbox, settle_s=0)
    with (inbox / "x.jsonl").open("w") as out:
        out.write(referral(1))
        out.write('{"external_id": "long", "text": "' + "y" * (10 * 1024 * 1024) + '"}\n')
        out.write(referral(2))
    report = FolderSource("referrals", config).pull(review_queue)
    assert external_ids(review_queue, "referrals") == ["ref-1", "ref-2"]
    rejects = (inbox / "rejected" / "x.jsonl.rejects").read_text()
    assert rejects == "line 2: longer than 9,437,184 bytes\n"
    assert report.new == 2


def test_limits_are_settings_checked_by_config_check(tmp_path: Path) -> None:
    path = tmp_path / "modqueue.toml"
    path.write_text(
        "[sources.feed]\n"
        'kind = "http"\n'
        'url = "http://127.0.0.1:1/flags"\n'
        'max_page_bytes = "4 MiB"\n'
        'request_deadline_s = "2m"\n'
        "[sources.drop]\n"
        'kind = "folder"\n'
        'path = "."\n'
        "max_file_bytes = 1000000\n"
        "[platforms.feed]\n"
        'action_url = "http://127.0.0.1:1/a"\n'
        'secret_env = "S"\n'
        'max_reply_bytes = "64KiB"\n'
    )
    config = load_config(path)
    feed, drop = config.sources["feed"], config.sources["drop"]
    assert isinstance(feed, FeedSourceConfig) and isinstance(drop, FolderSourceConfig)
    assert (feed.max_page_bytes, feed.request_deadline_s) == (4 * 1024 * 1024, 120.0)
    assert drop.max_file_bytes == 1_000_000
    assert config.platforms["feed"].max_reply_bytes == 65_536
    assert config.platforms["feed"].request_deadline_s == 30.0
    defaults = FeedSourceConfig(kind="http", url="http://x/")
    assert (defaults.max_page_bytes, defaults.request_deadline_s) == (32 * 1024 * 1024, 120.0)

    path.write_text(
        '[sources.feed]\nkind = "http"\nurl = "http://x/"\nmax_page_bytes = "lots"\n'
        "request_deadline_s = 0\n"
    )
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert f"{path}: sources.feed.max_page_bytes: Value error, invalid size 'lots'" in str(
        raised.value
    )
    assert f"{path}: sources.feed.request_deadline_s:" in str(raised.value)


def test_serve_stays_responsive_while_one_source_is_stuck(
    review_queue: ReviewQueue, tmp_path: Path
) -> None:
    """A feed that trickles for a minute holds up neither the other feed nor the lease
    and deadline jobs, even with a single shared worker thread."""
    # a page of 50 items trickled at one byte every 0.5 s: longer than any test run
    with FeedServer(feed_items(0, 50)) as stuck, FeedServer(feed_items(0, 30)) as good:
        stuck.always = "trickle"
        config = ModqueueConfig.model_validate(
            {
                "sources": {
                    "a-stuck": {
                        "kind": "http",
                        "url": stuck.url,
                        "timeout_s": 5,
                        "request_deadline_s": 600,
                        "every": "1h",
                    },
                    "b-good": {"kind": "http", "url": good.url, "every": "1h"},
                },
                "jobs": {"leases": {"every": "1h"}, "deadlines": {"every": "1h"}},
            }
        )
        done: dict[str, threading.Event] = {}
        jobs = []
        for job in default_jobs(config):
            done[job.name] = threading.Event()

            def run(ctx: JobContext, job: JobSpec = job) -> Any:
                if job.name != "source:a-stuck":  # start once the stuck source is stuck
                    stuck.hostile_started.wait(GUARD_S)
                try:
                    return job.run(ctx)
                finally:
                    done[job.name].set()

            jobs.append(JobSpec(job.name, job.every, run, job.description, job.lane))
        ctx = JobContext(review_queue, config)
        scheduler = Scheduler(jobs, ctx, workers=1)
        scheduler.start()
        try:
            assert stuck.hostile_started.wait(GUARD_S), "the stuck source never asked"
            for name in ("leases", "deadlines", "source:b-good"):
                assert done[name].wait(GUARD_S), f"{name} never ran"
            # ...while the stuck source is still receiving its trickle
            assert stuck.busy == 1
            assert not done["source:a-stuck"].is_set()
            assert len(external_ids(review_queue, "b-good")) == 30
        finally:
            stuck.stop()  # ends the trickle, so the stuck job can see the stop request
            scheduler.stop()


def test_jobs_have_their_lanes() -> None:
    config = ModqueueConfig.model_validate(
        {"sources": {"f": {"kind": "http", "url": "http://x/"}}, "jobs": {"leases": {"every": 5}}}
    )
    lanes = {job.name: job.lane for job in default_jobs(config)}
    assert lanes == {
        "leases": "core",
        "deadlines": "core",
        "retention": None,  # the shared pool
        "audit-partitions": None,
        "bank": None,
        "source:f": "source:f",
    }
