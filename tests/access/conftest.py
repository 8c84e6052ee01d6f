"""Fixtures for access tests: a team of reviewers, one per role, on a fresh database."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import select
from sqlmodel import col

from modqueue.queue import AuditEvent, ReviewQueue, add_reviewer
from tests.conftest import make_item

POLICY = "people-smuggling"
OTHER_POLICY = "doxxing"
ROLES = ["reviewer", "senior", "lead", "admin"]
OFF_LADDER = ["ml", "service"]
"""The roles outside the reviewer ladder: the ML team and service processes."""


@dataclass
class Team:
    """The admin who set things up, and one member per role, with their tokens."""

    queue: ReviewQueue
    tokens: dict[str, str]

    def name(self, role: str) -> str:
        return f"{role}-1"


def add(
    q: ReviewQueue,
    name: str,
    role: str,
    policies: list[str],
    actor: str | None,
    *,
    labelstudio_email: str | None = None,
) -> str:
    """Register a reviewer through the service; returns their token."""
    created = q.run(
        lambda s: add_reviewer(
            s,
            actor=actor,
            name=name,
            role=role,
            policies=policies,
            labelstudio_email=labelstudio_email,
            now=q.clock(),
        )
    )
    return created.token


@pytest.fixture
def team(review_queue: ReviewQueue) -> Team:
    """`root` (admin, all policies) plus `<role>-1` for each role, granted people-smuggling
    only; one pending item in people-smuggling, doxxing and people-smuggling:senior."""
    q = review_queue
    tokens = {"root": add(q, "root", "admin", [], None)}
    for role in ROLES:
        tokens[f"{role}-1"] = add(q, f"{role}-1", role, [POLICY], "root")
    report = q.enqueue(
        [
            make_item(1, reporter={"email": "reporter@example.org"}),
            make_item(2, policy=OTHER_POLICY),
            make_item(3),
        ]
    )
    assert report.new == 3
    claim = q.claim(3, "root")
    q.escalate(claim, "needs a senior")
    return Team(q, tokens)


def denials(q: ReviewQueue, actor: str) -> list[AuditEvent]:
    """The `access_denied` events recorded for `actor`."""
    with q.session() as s:
        return list(
            s.scalars(
                select(AuditEvent).where(
                    col(AuditEvent.actor) == actor, col(AuditEvent.event) == "access_denied"
                )
            )
        )
