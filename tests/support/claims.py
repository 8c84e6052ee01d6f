"""Set-up the claim tests share: one item enqueued and claimed, the claimed events, the
trail's verification, a queue on a fresh PostgreSQL database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import col

from modqueue.queue import AuditEvent, Claim, ReviewQueue, verify_chain
from tests.conftest import Clock, fresh_pg_database, make_item, release_pg_database

__all__ = ["check_trail", "claim_one", "claimed_events", "pg_review_queue"]


def claim_one(q: ReviewQueue, reviewer: str = "alice", **item: Any) -> Claim:
    """Enqueue `make_item(1, **item)` and claim it as `reviewer` (the claim, never None)."""
    assert q.enqueue([make_item(1, **item)]).new == 1
    claim = q.claim_next(reviewer)
    assert claim is not None
    return claim


def claimed_events(q: ReviewQueue) -> list[AuditEvent]:
    """The `claimed` audit events, in id order."""
    with q.session() as s:
        return list(
            s.scalars(
                select(AuditEvent)
                .where(col(AuditEvent.event) == "claimed")
                .order_by(col(AuditEvent.id))
            )
        )


def check_trail(q: ReviewQueue) -> None:
    """The whole audit trail verifies."""
    report = q.read(verify_chain)
    assert report.ok, report


@contextmanager
def pg_review_queue(request: pytest.FixtureRequest, clock: Clock) -> Iterator[ReviewQueue]:
    """A queue on a fresh PostgreSQL database (for what only PostgreSQL has), dropped
    after."""
    url, name = fresh_pg_database(request.getfixturevalue("pg_template"))
    q = ReviewQueue(url, clock=clock)
    try:
        yield q
    finally:
        q.close()
        release_pg_database(name)
