"""Feedback to the notifier through the outbox, against a real local HTTP endpoint that
fails (5xx, 429 with Retry-After, a time-out) before it answers: each notice hears back
exactly once per stage (acknowledgement, outcome), signed, and a notifier that is down
holds up neither decisions nor takedowns."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlmodel import col

from modqueue.config import FolderSourceConfig, ModqueueConfig
from modqueue.integrations.actions import destinations, dispatch_due, list_actions
from modqueue.queue import NOTIFY_ACTIONS, OutboundAction, ReviewQueue, queue_notices
from modqueue.scheduler import JobContext, default_jobs, run_once
from tests.conftest import Clock, make_item
from tests.integrations.actions.conftest import SECRETS, TAKEDOWN_LABEL, platform_config
from tests.integrations.actions.platform_server import (
    PlatformServer,
    free_port,
    platform_server,
)

NOTIFIER_SECRET = "notifier-secret-0123456789"
ENV = {"ALPHA_SECRET": SECRETS["alpha"], "NOTIFIER_SECRET": NOTIFIER_SECRET}
# The endpoint answers by external id: 500 twice, 429 + Retry-After once, a first reply
# slower than the time-out, and at once; the last item is left up (no takedown).
TAKEN_DOWN = ["flaky-n1", "ratelimit-n2", "slow-n3"]
LEFT_UP = "done-n4"


@pytest.fixture
def server() -> Iterator[PlatformServer]:
    with platform_server({**SECRETS, "notifier": NOTIFIER_SECRET}, slow_s=1.2) as running:
        yield running


def _config(tmp_path: Path, notify_url: str, server: PlatformServer) -> ModqueueConfig:
    source = FolderSourceConfig(
        kind="folder",
        path=tmp_path,
        notify_url=notify_url,
        notify_secret_env="NOTIFIER_SECRET",
        notify_timeout_s=0.5,
    )
    return ModqueueConfig(
        sources={"alpha": source}, platforms={"alpha": platform_config(server, "alpha")}
    )


def _enqueue_and_decide(q: ReviewQueue) -> None:
    sources = ["alpha"]
    q.enqueue(
        [make_item(i, source="alpha", external_id=e) for i, e in enumerate([*TAKEN_DOWN, LEFT_UP])]
    )
    assert q.run(lambda s: queue_notices(s, sources=sources, now=q.clock())) == 4  # the acks
    for _ in range(4):
        claim = q.claim_next("rev-1")
        assert claim is not None
        label = "no-violation" if claim.item.external_id == LEFT_UP else TAKEDOWN_LABEL
        q.decide(claim, label, "private reviewer note")
        if q.get_item(claim.item_id).status != "decided":  # sampled: second review agrees
            second = q.claim(claim.item_id, "rev-2")
            q.decide(second, label)


def _notify_rows(q: ReviewQueue) -> list[OutboundAction]:
    with q.session() as s:
        return list(
            s.scalars(
                select(OutboundAction)
                .where(col(OutboundAction.action).in_(NOTIFY_ACTIONS))
                .order_by(col(OutboundAction.id))
            )
        )


def test_each_notice_hears_back_once_per_stage_through_a_flaky_endpoint(
    review_queue: ReviewQueue, clock: Clock, server: PlatformServer, tmp_path: Path
) -> None:
    q = review_queue
    config = _config(tmp_path, server.action_url("notifier"), server)
    _enqueue_and_decide(q)
    jobs = {j.name: j for j in default_jobs(config)}
    ctx = JobContext(queue=q, config=config)
    # The leave-up decision is answered at once; the takedowns wait for the platform.
    (queued,) = run_once([jobs["notices"]], ctx)
    assert queued.ok and queued.value == 1
    for _ in range(12):
        dispatch_due(q, destinations(config), env=ENV)
        run_once([jobs["notices"]], ctx)
        clock.advance(seconds=120)  # past every backoff, Retry-After and lease
    rows = _notify_rows(q)
    assert sorted((r.external_id, r.action) for r in rows) == sorted(
        (e, stage) for e in [*TAKEN_DOWN, LEFT_UP] for stage in NOTIFY_ACTIONS
    )
    assert {r.status for r in rows} == {"done"}
    state = server.state
    for row in rows:
        assert state.effects[row.idempotency_key] == 1, row.external_id
        assert state.bad_signatures[row.idempotency_key] == 0
    # Each flaky behaviour was met and retried (the same key every time).
    by = {(r.external_id, r.action): r.idempotency_key for r in rows}
    assert state.requests[by[("flaky-n1", "notify_ack")]] == 3
    assert state.requests[by[("ratelimit-n2", "notify_ack")]] == 2
    assert state.requests[by[("slow-n3", "notify_ack")]] >= 2
    outcome = state.payloads[by[("flaky-n1", "notify_outcome")]]
    assert outcome["stage"] == "outcome" and outcome["source"] == "alpha"
    assert outcome["decision"]["label"] == TAKEDOWN_LABEL
    assert outcome["guideline"]["id"] == "people-smuggling"
    assert outcome["guideline"]["version"] == q.guidelines.get("people-smuggling").version
    assert outcome["actions"] == [{"action": "remove_and_ban", "status": "done"}]
    left_up = state.payloads[by[(LEFT_UP, "notify_outcome")]]
    assert left_up["decision"]["action"] == "none" and left_up["actions"] == []
    ack = state.payloads[by[("flaky-n1", "notify_ack")]]
    assert ack["stage"] == "ack" and "received_at" in ack
    sent = json.dumps([state.payloads[k] for k in by.values()])
    assert "rev-1" not in sent and "rev-2" not in sent and "private reviewer note" not in sent
    # Nothing is queued twice, however often the job runs.
    (again,) = run_once([jobs["notices"]], ctx)
    assert again.value == 0
    listed = q.read(lambda s: list_actions(s))
    assert {a.action for a in listed} >= {"notify_ack", "notify_outcome", "remove_and_ban"}


def test_a_notifier_that_is_down_blocks_no_decision_and_no_takedown(
    review_queue: ReviewQueue, clock: Clock, server: PlatformServer, tmp_path: Path
) -> None:
    q = review_queue
    dead = f"http://127.0.0.1:{free_port()}/notices"
    config = _config(tmp_path, dead, server)
    _enqueue_and_decide(q)
    for _ in range(6):
        q.run(lambda s: queue_notices(s, sources=["alpha"], now=q.clock()))
        dispatch_due(q, destinations(config), env=ENV)
        clock.advance(seconds=120)
    with q.session() as s:
        takedowns = list(
            s.scalars(
                select(OutboundAction).where(col(OutboundAction.action).not_in(NOTIFY_ACTIONS))
            )
        )
    assert sorted(a.external_id for a in takedowns) == sorted(TAKEN_DOWN)
    assert {a.status for a in takedowns} == {"done"}
    rows = _notify_rows(q)
    assert len(rows) == 8  # every ack and outcome queued, none delivered
    assert {r.status for r in rows} <= {"pending", "failed"}
    assert all("connection" in (r.last_error or "").lower() for r in rows)
