"""Fixtures for action tests: items decided with a takedown label, platform configs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import Session, col

from modqueue.config import PlatformConfig
from modqueue.quality import QualityConfig
from modqueue.queue import FloodsConfig, OutboundAction, ReviewQueue
from tests.conftest import make_item
from tests.integrations.actions.platform_server import PlatformServer, platform_server

TAKEDOWN_LABEL = "remove-fake-documents"  # people-smuggling: remove_and_ban
TAKEDOWN_TITLE = "Remove offer of forged or stolen identity documents"
SECRETS = {"alpha": "alpha-secret-0123456789", "beta": "beta-secret-on-the-server"}


def decide_items(
    queue: ReviewQueue, external_ids: list[str], *, source: str = "alpha", note: str = ""
) -> dict[str, int]:
    """Enqueue and decide one item per external id; `{external_id: action id}`."""
    # Every decision here is final: none is sampled for a blind second review (which would
    # hold its action until the review settles).
    queue.quality = QualityConfig(second_review_share=0.0)
    # The synthetic texts differ only in digits, so many of them are copies of one another
    # and would fold into a flood incident for the lead; these tests are about delivery.
    queue.floods = FloodsConfig(enabled=False)
    items = [make_item(i, source=source, external_id=ext) for i, ext in enumerate(external_ids)]
    report = queue.enqueue(items)
    assert report.rejected == []
    out: dict[str, int] = {}
    for _ in external_ids:
        claim = queue.claim_next("rev-1")
        assert claim is not None
        decision = queue.decide(claim, TAKEDOWN_LABEL, note or "private reviewer note")
        stmt = select(col(OutboundAction.id)).where(col(OutboundAction.decision_id) == decision.id)

        def find(s: Session, q: Any = stmt) -> int:
            return int(s.execute(q).scalar_one())

        action_id = queue.run(find)
        out[claim.item.external_id] = action_id
    return out


def platform_config(server: PlatformServer, name: str, **overrides: object) -> PlatformConfig:
    """A platform on the test server with short time-outs and small backoffs."""
    values: dict[str, object] = {
        "action_url": server.action_url(name),
        "secret_env": f"{name.upper()}_SECRET",
        "timeout_s": 0.5,
        "max_attempts": 4,
        "concurrency": 4,
        "status_url": server.status_url(name),
        "backoff_base_s": 1.0,
        "backoff_max_s": 60.0,
        "status_poll_s": 60.0,
    }
    values.update(overrides)
    return PlatformConfig.model_validate(values)


@pytest.fixture
def server() -> Iterator[PlatformServer]:
    with platform_server(dict(SECRETS), slow_s=1.2) as running:
        yield running
