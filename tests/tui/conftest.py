"""Fixtures for the terminal UI: a queue with deterministic items and a fixed clock."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlmodel import col

from modqueue.queue import (
    AuditEvent,
    Decision,
    Item,
    OutboundAction,
    ReviewQueue,
    event_dict,
    personal_of,
)
from modqueue.tui import TuiConfig
from modqueue.tui.app import ReviewApp
from tests.conftest import Clock, make_item

SIZE = (120, 40)


def seed_items() -> list[dict[str, Any]]:
    """Six items: two smuggling ads, a graphic threat with media, a doxxing poster, two
    drug-supply posts; priorities are distinct so the claim order is fixed."""
    return [
        make_item(
            1,
            text="Boat to UK this Friday, 100% success, pay on arrival.",
            url="https://social.example.com/p/1",
            # 192.0.2.0/24 is for documentation: the media fetcher refuses it (not a
            # public address) without touching the network, the same everywhere
            media=[{"kind": "image", "url": "https://192.0.2.10/1.jpg"}],
            author={"id": "acct-1", "handle": "@safe_travel"},
            signals=[{"name": "smuggling-clf-v2", "score": 0.95}],
            report_count=40,
            views=1_200_000,
        ),
        make_item(
            2,
            text="This is a warning. You're next.",
            policy="violent-threats",
            media=[{"kind": "video", "url": "https://media.example.net/2.mp4"}],
            author={"id": "acct-2", "handle": "@block_boys"},
            signals=[{"name": "violence-clf", "score": 0.9}],
            report_count=12,
            views=50_000,
        ),
        make_item(3, text="Who knows where this man lives?", policy="doxxing", views=9_000),
        make_item(4, text="Crossing tips, DM me", report_count=3, views=800),
        make_item(5, text="Farm work, cash, no questions", policy="drug-supply", views=300),
        make_item(6, text="Tips for police raids", policy="drug-supply", views=10),
    ]


@pytest.fixture
def tui_config() -> TuiConfig:
    return TuiConfig(break_after_items=3, break_after_minutes=60, dashboard_refresh=3600)


@pytest.fixture
def seeded_queue(database_url: str, clock: Clock) -> Iterator[ReviewQueue]:
    queue = ReviewQueue(database_url, clock=clock)
    report = queue.enqueue(seed_items())
    assert report.new == 6 and not report.rejected
    yield queue
    queue.close()


def make_app(queue: ReviewQueue, config: TuiConfig, **kwargs: Any) -> ReviewApp:
    return ReviewApp(queue=queue, reviewer="alice", config=config, **kwargs)


async def settle(app: ReviewApp, pilot: Any) -> None:
    """Wait until every worker finished and its messages were handled."""
    for _ in range(10):
        await app.workers.wait_for_complete()
        await pilot.pause()
        if not any(w.is_running for w in app.workers):
            await pilot.pause()
            if not any(w.is_running for w in app.workers):
                return


def statuses(queue: ReviewQueue) -> dict[int, tuple[str, str | None]]:
    """item id -> (status, claimed_by)."""
    with queue.session() as s:
        rows = s.execute(select(col(Item.id), col(Item.status), col(Item.claimed_by))).all()
    return {i: (st, by) for i, st, by in rows}


def decisions(queue: ReviewQueue) -> list[tuple[int, str, str, str]]:
    """(item id, label, status, note) of every decision, oldest first."""
    with queue.session() as s:
        rows = s.execute(
            select(
                col(Decision.item_id), col(Decision.label), col(Decision.status), col(Decision.note)
            ).order_by(col(Decision.id))
        ).all()
    return [tuple(r) for r in rows]


def events(queue: ReviewQueue, name: str) -> list[tuple[int | None, Any]]:
    """`(item id, detail)` of each `name` event, its personal fields (notes) put back."""
    with queue.session() as s:
        rows = list(
            s.scalars(
                select(AuditEvent).where(col(AuditEvent.event) == name).order_by(col(AuditEvent.id))
            )
        )
        personal = personal_of(s, [r.id for r in rows if r.id is not None])
        return [(r.item_id, event_dict(r, personal.get(r.id or 0))["detail"]) for r in rows]


def action_statuses(queue: ReviewQueue) -> list[str]:
    with queue.session() as s:
        return list(s.scalars(select(col(OutboundAction.status)).order_by(col(OutboundAction.id))))


def count_items(queue: ReviewQueue, status: str) -> int:
    with queue.session() as s:
        return int(s.scalar(select(func.count()).where(col(Item.status) == status)) or 0)
