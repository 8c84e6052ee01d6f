"""Delivering actions to a real local platform server: every reply, every outcome."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from modqueue import InvalidState
from modqueue.config import PlatformConfig
from modqueue.integrations.actions import dispatch_due, list_actions, poll_statuses
from modqueue.queue import AuditEvent, OutboundAction, ReviewQueue
from tests.conftest import Clock
from tests.integrations.actions.conftest import (
    SECRETS,
    TAKEDOWN_TITLE,
    decide_items,
    platform_config,
)
from tests.integrations.actions.platform_server import RETRY_AFTER_S, PlatformServer, free_port
from tests.support.counters import action_counters, action_recount

EXPECTED = {
    "done-1": "done",
    "done-2": "done",
    "declined-1": "declined",
    "pending-done-1": "done",
    "pending-declined-1": "declined",
    "accepted-1": "sent",
    "conflict-1": "sent",
    "ratelimit-1": "done",
    "flaky-1": "done",
    "down-1": "failed",
    "bad-1": "failed",
    "slow-1": "done",
    "malformed-1": "failed",
}


def _rows(queue: ReviewQueue) -> dict[int, OutboundAction]:
    return queue.run(lambda s: {r.id or 0: r for r in s.scalars(select(OutboundAction))})


def _drain(
    queue: ReviewQueue, clock: Clock, platforms: dict[str, PlatformConfig], env: dict[str, str]
) -> None:
    """Dispatch and poll, moving the clock an hour each round, until nothing is left."""
    for _ in range(15):
        dispatch_due(queue, platforms, env=env, batch_size=5)
        poll_statuses(queue, platforms, env=env)
        rows = _rows(queue).values()
        if not any(r.status == "pending" or (r.status == "sent" and r.reference) for r in rows):
            return
        clock.advance(hours=1)
    raise AssertionError("actions still pending after 15 rounds")


def test_every_reply_ends_as_it_should(
    review_queue: ReviewQueue,
    clock: Clock,
    server: PlatformServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ids = decide_items(review_queue, list(EXPECTED))
    offline_ids = decide_items(review_queue, ["gone-1"], source="offline")
    closed = f"http://127.0.0.1:{free_port()}/actions"
    platforms = {
        "alpha": platform_config(server, "alpha"),
        "offline": PlatformConfig(action_url=closed, secret_env="OFFLINE_SECRET", max_attempts=3),
    }
    env = {"ALPHA_SECRET": SECRETS["alpha"], "OFFLINE_SECRET": "offline-secret-value"}
    keys_before = {i: r.idempotency_key for i, r in _rows(review_queue).items()}
    caplog.set_level(logging.DEBUG)

    _drain(review_queue, clock, platforms, env)

    rows = _rows(review_queue)
    got = {ext: rows[i].status for ext, i in ids.items()}
    assert got == EXPECTED
    # the dispatcher's status moves kept the stats' action counters equal to a recount
    counted = action_recount(review_queue)
    assert action_counters(review_queue) == counted
    assert {status for _, status in counted} == {"done", "declined", "sent", "failed"}
    gone = rows[offline_ids["gone-1"]]
    assert gone.status == "failed"
    assert gone.attempts == 3
    assert gone.last_error is not None
    assert "gave up after 3 attempts" in gone.last_error
    assert "cannot reach platform 'offline'" in gone.last_error

    # one stable key per action, and each key took effect on the platform exactly once
    assert {i: r.idempotency_key for i, r in rows.items()} == keys_before
    assert set(server.state.effects.values()) == {1}
    took_effect = {
        rows[ids[e]].idempotency_key for e in EXPECTED if not e.startswith(("bad", "down"))
    }
    assert set(server.state.effects) == took_effect
    assert server.state.bad_signatures == {}
    # the slow action was sent again with its key after the time-out
    assert server.state.requests[rows[ids["slow-1"]].idempotency_key] == 2

    # what the platform saw: the label's title as reason, never the reviewer's note
    sent = server.state.payloads[rows[ids["done-1"]].idempotency_key]
    assert sent["reason"] == TAKEDOWN_TITLE
    assert sent["action"] == "remove_and_ban"
    assert sent["source"] == "alpha"
    assert sent["external_id"] == "done-1"
    assert sent["policy"] == "people-smuggling"
    assert sent["label"] == "remove-fake-documents"
    assert "private reviewer note" not in str(server.state.payloads)

    done = rows[ids["done-1"]]
    assert done.reference is not None and done.reference.startswith("ref-")
    assert done.reply == {
        "http_status": 200,
        "body": {"status": "done", "reference": done.reference},
    }
    assert done.attempts == 1

    bad = rows[ids["bad-1"]]
    assert bad.attempts == 1
    assert bad.reply == {"http_status": 400, "body": {"error": "unknown content id"}}
    assert bad.last_error is not None and "HTTP 400" in bad.last_error

    down = rows[ids["down-1"]]
    assert down.attempts == 4
    assert down.last_error is not None and "gave up after 4 attempts: HTTP 503" in down.last_error

    malformed = rows[ids["malformed-1"]]
    assert malformed.last_error is not None
    assert (
        "accepted the action (HTTP 200) but its reply is malformed: not JSON"
        in malformed.last_error
    )
    assert malformed.reply == {"http_status": 200, "body": "<html>proxy error</html>"}

    pending_done = rows[ids["pending-done-1"]]
    assert pending_done.reply is not None and pending_done.reply["body"]["status"] == "done"
    assert server.state.polls[pending_done.reference or ""] == 2

    assert rows[ids["flaky-1"]].attempts == 3
    assert rows[ids["conflict-1"]].reply is None

    events = review_queue.run(lambda s: list(s.scalars(select(AuditEvent))))
    # Retry-After honoured: the next attempt was scheduled at least that far away
    ratelimit_id = ids["ratelimit-1"]
    scheduled = [
        e
        for e in events
        if e.event == "action_retry_scheduled"
        and e.detail
        and e.detail["action_id"] == ratelimit_id
    ]
    assert len(scheduled) == 1
    assert scheduled[0].detail is not None
    next_at = scheduled[0].detail["next_attempt_at"]
    assert datetime.fromisoformat(next_at) - scheduled[0].at >= timedelta(seconds=RETRY_AFTER_S)

    # every status change left an audit event naming the action
    final = {
        (e.detail or {}).get("action_id"): e.event
        for e in events
        if e.event in ("action_done", "action_declined", "action_sent", "action_failed")
    }
    for action_id, row in rows.items():
        if row.status in ("done", "declined", "failed"):
            assert final[action_id] == f"action_{row.status}"
    sent_then_final = [
        e.event
        for e in events
        if (e.detail or {}).get("action_id") == ids["pending-declined-1"]
        and e.event.startswith("action_")
    ]
    assert sent_then_final == ["action_sent", "action_declined"]

    stats = review_queue.stats()["actions"]
    assert stats["done"] == 6
    assert stats["declined"] == 2
    assert stats["sent"] == 2
    assert stats["failed"] == 4
    assert stats["pending"] == 0

    # secrets never reach logs, errors or replies
    for secret in (SECRETS["alpha"], "offline-secret-value"):
        assert secret not in caplog.text
        assert all(secret not in str(r.last_error) + str(r.reply) for r in rows.values())


def test_wrong_or_missing_secret_fails_that_platform_only(
    review_queue: ReviewQueue,
    clock: Clock,
    server: PlatformServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    good = decide_items(review_queue, ["done-a"], source="alpha")
    wrong = decide_items(review_queue, ["done-b"], source="beta")
    unset = decide_items(review_queue, ["done-c"], source="gamma")
    platforms = {name: platform_config(server, name) for name in ("alpha", "beta", "gamma")}
    env = {"ALPHA_SECRET": SECRETS["alpha"], "BETA_SECRET": "not-the-secret-beta-expects"}
    caplog.set_level(logging.DEBUG)

    report = dispatch_due(review_queue, platforms, env=env)

    rows = _rows(review_queue)
    assert rows[good["done-a"]].status == "done"
    beta = rows[wrong["done-b"]]
    assert beta.status == "failed"
    assert beta.last_error is not None
    assert (
        "HTTP 401 from platform 'beta' (signature rejected? check the secret in $BETA_SECRET)"
        in (beta.last_error)
    )
    assert server.state.bad_signatures[beta.idempotency_key] == 1
    gamma = rows[unset["done-c"]]
    assert gamma.status == "pending"
    assert gamma.last_error == (
        "environment variable GAMMA_SECRET (secret_env of [platforms.gamma]) is not set: the "
        "action cannot be signed, nothing was sent"
    )
    assert report.done == 1 and report.failed == 1 and report.retried == 1
    assert sorted(i for i, _ in report.errors) == sorted([beta.id or 0, gamma.id or 0])
    assert "not-the-secret-beta-expects" not in caplog.text
    assert SECRETS["alpha"] not in caplog.text

    # with the secret set, the pending one goes out on its next attempt, same key
    server.state.secrets["gamma"] = "gamma-secret"
    clock.advance(hours=1)
    dispatch_due(review_queue, platforms, env={**env, "GAMMA_SECRET": "gamma-secret"})
    again = _rows(review_queue)[unset["done-c"]]
    assert again.idempotency_key == gamma.idempotency_key
    assert again.status == "done"
    assert again.attempts == 2
    assert server.state.effects[gamma.idempotency_key] == 1


def test_unconfigured_source_stays_pending(
    review_queue: ReviewQueue, server: PlatformServer
) -> None:
    ids = decide_items(review_queue, ["done-x"], source="nowhere")
    report = dispatch_due(review_queue, {"alpha": platform_config(server, "alpha")}, env={})
    assert report.claimed == 0
    assert report.unconfigured == {"nowhere": 1}
    assert _rows(review_queue)[ids["done-x"]].status == "pending"


def test_concurrency_and_rate_limit_deliver_everything(
    review_queue: ReviewQueue, server: PlatformServer
) -> None:
    names = [f"done-{n}" for n in range(24)]
    ids = decide_items(review_queue, names)
    cfg = platform_config(server, "alpha", concurrency=3, rate_per_s=200.0)
    report = dispatch_due(
        review_queue, {"alpha": cfg}, env={"ALPHA_SECRET": SECRETS["alpha"]}, batch_size=10
    )
    assert report.batches == 3
    assert report.done == 24
    rows = _rows(review_queue)
    assert {rows[i].status for i in ids.values()} == {"done"}
    assert sorted(server.state.effects.values()) == [1] * 24


def test_list_actions_filters_by_status(review_queue: ReviewQueue, server: PlatformServer) -> None:
    decide_items(review_queue, ["done-1", "bad-1"])
    dispatch_due(
        review_queue,
        {"alpha": platform_config(server, "alpha")},
        env={"ALPHA_SECRET": SECRETS["alpha"]},
    )
    failed = review_queue.run(lambda s: list_actions(s, status="failed"))
    assert [a.external_id for a in failed] == ["bad-1"]
    everything = review_queue.run(lambda s: list_actions(s))
    assert {a.external_id: a.status for a in everything} == {"done-1": "done", "bad-1": "failed"}
    assert [a.id for a in everything] == sorted(a.id for a in everything)
    with pytest.raises(InvalidState, match="unknown action status 'lost'"):
        review_queue.run(lambda s: list_actions(s, status="lost"))


def test_two_dispatchers_never_send_the_same_action(
    database_url: str, server: PlatformServer
) -> None:
    with ReviewQueue(database_url) as setup:
        ids = decide_items(setup, [f"done-{n}" for n in range(40)])
    server.state.delay_s = 0.01
    # This test is about exclusivity, not time-outs: a loaded CI machine once took longer
    # than the usual 0.5 s to answer, and the retried action was not in this run's count.
    cfg = platform_config(server, "alpha", concurrency=2, timeout_s=5.0)
    env = {"ALPHA_SECRET": SECRETS["alpha"]}
    queues = [ReviewQueue(database_url) for _ in range(2)]
    try:
        with ThreadPoolExecutor(2) as pool:
            reports = list(
                pool.map(lambda q: dispatch_due(q, {"alpha": cfg}, env=env, batch_size=5), queues)
            )
        rows = _rows(queues[0])
    finally:
        for q in queues:
            q.close()
    assert sum(r.done for r in reports) == 40
    assert {rows[i].status for i in ids.values()} == {"done"}
    # each action was claimed by one dispatcher only: one request per key
    assert sorted(server.state.requests.values()) == [1] * 40
