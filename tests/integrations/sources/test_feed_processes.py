"""`modqueue serve` processes pulling a real feed: two at once, SIGTERM, and kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from modqueue.queue import Item, ReviewQueue

from .feed_server import FeedServer
from .test_feed import feed_items, item_ids, page_totals

WAIT_S = 90.0


def write_config(tmp_path: Path, url: str, page_limit: int, **extra: str) -> Path:
    lines = [
        "[sources.feed]",
        'kind = "http"',
        f'url = "{url}"',
        'every = "0.2s"',
        f"page_limit = {page_limit}",
        "max_attempts = 3",
        "backoff_s = 0.01",
        "backoff_max_s = 0.05",
        'token_env = "FEED_TOKEN"',
        *(f"{k} = {v}" for k, v in extra.items()),
        "[jobs.leases]",
        'every = "0.5s"',
        "[jobs.deadlines]",
        'every = "0.5s"',
    ]
    path = tmp_path / "modqueue.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def spawn(
    config: Path, database_url: str, log: Path, *args: str, token: str = "tok-process-secret"
) -> subprocess.Popen[bytes]:
    env = {**os.environ, "FEED_TOKEN": token}
    with log.open("ab") as out:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "modqueue.cli",
                "serve",
                "--config",
                str(config),
                "--db",
                database_url,
                "--log-json",
                *args,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=config.parent,
        )


def count_items(queue: ReviewQueue) -> int:
    with queue.session() as s:
        return int(s.scalar(select(func.count()).select_from(Item)) or 0)


def wait_for(predicate: Any, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.mark.slow  # serve processes started, killed and restarted
def test_two_serve_processes_pull_one_feed_without_duplicates(
    database_url: str, tmp_path: Path
) -> None:
    token = "tok-process-secret"
    with FeedServer(feed_items(0, 400), page_size=20, token=token) as srv:
        srv.delay_s = 0.01
        config = write_config(tmp_path, srv.url, 20)
        logs = [tmp_path / "serve-1.log", tmp_path / "serve-2.log"]
        procs = [spawn(config, database_url, log) for log in logs]
        queue = ReviewQueue(database_url)
        try:
            wait_for(lambda: count_items(queue) >= 400, "400 items")
            # A few more rounds of both processes polling the caught-up feed.
            seen = len(srv.requests)
            wait_for(lambda: len(srv.requests) >= seen + 4, "more polls")
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
            codes = [proc.wait(timeout=60) for proc in procs]
            assert codes == [0, 0]
            assert sorted(item_ids(queue)) == sorted(f"f-{n}" for n in range(400))
            assert page_totals(queue) == (400, 0)
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            queue.close()
    for log in logs:
        text = log.read_text()
        assert token not in text
        records = [json.loads(line) for line in text.splitlines() if line.strip()]
        assert any(r["msg"] == "serve: stopped" for r in records)
        assert any(r.get("job") == "source:feed" for r in records)


@pytest.mark.slow  # serve processes started, killed and restarted
def test_kill_9_mid_page_then_restart_loses_and_duplicates_nothing(
    database_url: str, tmp_path: Path
) -> None:
    with FeedServer(feed_items(0, 900), page_size=300) as srv:
        config = write_config(tmp_path, srv.url, 300)
        reached, release, sent = threading.Event(), threading.Event(), threading.Event()
        state = {"hold": True, "watch_sent": False}

        def on_request(offset: int) -> None:
            if offset == 300 and state["hold"]:
                state["hold"] = False
                reached.set()
                release.wait(WAIT_S)

        def on_sent(offset: int) -> None:
            if offset == 300 and state["watch_sent"]:
                state["watch_sent"] = False
                sent.set()

        srv.on_request, srv.on_sent = on_request, on_sent
        log = tmp_path / "serve.log"
        queue = ReviewQueue(database_url)
        procs: list[subprocess.Popen[bytes]] = []
        try:
            # 1. Killed while waiting for page 2's answer.
            procs.append(spawn(config, database_url, log))
            assert reached.wait(WAIT_S), "serve never asked for the second page"
            procs[-1].send_signal(signal.SIGKILL)
            procs[-1].wait(timeout=30)
            release.set()
            assert count_items(queue) == 300
            # 2. Killed right after page 2 was sent: while decoding or storing it.
            state["watch_sent"] = True
            procs.append(spawn(config, database_url, log))
            assert sent.wait(WAIT_S), "serve never fetched the second page again"
            procs[-1].send_signal(signal.SIGKILL)
            procs[-1].wait(timeout=30)
            # 3. Clean runs finish the feed (a run may find the dead process's job lock not
            # yet released by the server, and skip that round).
            for _ in range(5):
                procs.append(spawn(config, database_url, log, "--once"))
                assert procs[-1].wait(timeout=WAIT_S) == 0
                if count_items(queue) == 900:
                    break
            assert sorted(item_ids(queue)) == sorted(f"f-{n}" for n in range(900))
            assert page_totals(queue) == (900, 0)
        finally:
            release.set()
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            queue.close()
