"""Stats at scale: the past-deadline count (open items from `queue_counter` minus those
whose deadline is still ahead) and the oldest pending ages (first entries of partial
indexes) equal a full recount of `item`, as deadlines pass, items are decided, claimed
and escalated; and migration 0021's indexes go down and up again on a filled database."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from alembic import command
from sqlalchemy import func, select, text
from sqlmodel import col

from modqueue.queue import Item, ReviewQueue
from modqueue.queue._core.db import alembic_config
from tests.conftest import Clock, make_item

INDEXES = {
    "item": {
        "ix_item_open_deadline",
        "ix_item_pending_ingested",
        "ix_item_pending_flagged",
    },
    # 0022's `ix_decision_decided_at`, replaced at 0028 by a covering index on the same
    # leading column.
    "decision": {"ix_decision_decided_window"},
    "audit_event": {"ix_audit_event_event_at"},
}


WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]
WORDS += ["india", "juliet", "kilo", "lima"]


def _index_names(q: ReviewQueue) -> dict[str, set[str]]:
    """Index names per table, from the catalogue (reflection skips expression indexes)."""
    if q.engine.dialect.name == "postgresql":
        sql = "SELECT tablename, indexname FROM pg_indexes WHERE schemaname = 'public'"
    else:
        sql = "SELECT tbl_name, name FROM sqlite_master WHERE type = 'index'"
    with q.engine.connect() as conn:
        rows = conn.execute(text(sql)).all()
    return {t: {name for table, name in rows if table == t} for t in INDEXES}


def _recount(q: ReviewQueue, now: datetime) -> dict[str, dict[str, Any]]:
    """Per queue, by full scans: open items past their deadline, oldest pending ages."""
    out: dict[str, dict[str, Any]] = {}
    with q.session() as s:
        for item in s.scalars(select(Item)):
            entry = out.setdefault(
                item.queue,
                {
                    "past_deadline": 0,
                    "oldest_pending_seconds": None,
                    "oldest_flagged_seconds": None,
                },
            )
            if item.status in ("pending", "claimed") and item.deadline_at < now:
                entry["past_deadline"] += 1
            if item.status != "pending":
                continue
            for key, at in (
                ("oldest_pending_seconds", item.ingested_at),
                ("oldest_flagged_seconds", item.flagged_at or item.ingested_at),
            ):
                age = round((now - at).total_seconds())
                entry[key] = age if entry[key] is None else max(entry[key], age)
    return out


def _stats(q: ReviewQueue) -> dict[str, dict[str, Any]]:
    keys = ("past_deadline", "oldest_pending_seconds", "oldest_flagged_seconds")
    return {queue: {k: entry[k] for k in keys} for queue, entry in q.stats()["by_queue"].items()}


def test_past_deadline_and_oldest_ages_equal_a_recount(
    review_queue: ReviewQueue, clock: Clock
) -> None:
    q = review_queue
    # Flag times a day apart, so deadlines pass one group after another; distinct texts.
    q.enqueue(
        [
            make_item(
                n,
                text=f"stats recount {word}",
                policy=("people-smuggling", "hate", "doxxing")[n % 3],
                flagged_at=f"2026-11-{20 + n % 4:02d}T08:00:00Z",
            )
            for n, word in enumerate(
                [
                    "alpha",
                    "bravo",
                    "charlie",
                    "delta",
                    "echo",
                    "foxtrot",
                    "golf",
                    "hotel",
                    "india",
                    "juliet",
                    "kilo",
                    "lima",
                ]
            )
        ]
    )
    assert _stats(q) == _recount(q, clock())
    for hours in (12, 30, 48, 200):
        clock.advance(hours=hours)
        q.enqueue([make_item(100 + hours, text=f"late arrival after {hours} hours")])
        claim = q.claim_next("alice")
        assert claim is not None
        if hours == 30:
            q.escalate(claim, "a senior should look")
        elif hours != 200:  # the last one stays claimed
            q.decide(claim, q.guidelines.get(claim.item.policy or "triage").labels[0].id)
        assert _stats(q) == _recount(q, clock()), hours
    stats = q.stats()
    assert stats["past_deadline"] == sum(e["past_deadline"] for e in _recount(q, clock()).values())
    assert stats["past_deadline"] > 0
    board = {entry.queue: entry for entry in q.dashboard("lead").queues}
    for queue, entry in _recount(q, clock()).items():
        if entry["past_deadline"]:
            assert board[queue].deadline_breaches >= entry["past_deadline"]


def test_migration_0022_down_and_up_on_a_filled_database(review_queue: ReviewQueue) -> None:
    q = review_queue
    q.enqueue([make_item(n, text=f"migration row {word}") for n, word in enumerate("xyz")])
    claim = q.claim_next("ana")
    assert claim is not None
    q.decide(claim, "remove-fake-documents")
    config = alembic_config(q.engine)
    command.downgrade(config, "0021_bulkdecide_counted_moves")
    names = _index_names(q)
    assert all(not (INDEXES[t] & names[t]) for t in INDEXES)
    command.upgrade(config, "heads")
    names = _index_names(q)
    assert all(INDEXES[t] <= names[t] for t in INDEXES)
    with q.session() as s:
        assert s.scalar(select(func.count()).select_from(Item)) == 3
        assert s.scalar(select(func.count()).where(col(Item.status) == "pending")) == 2
    assert q.claim_next("ben") is not None
