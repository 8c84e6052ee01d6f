"""Pseudonyms: stable, random, one per reviewer, reversible only through the database."""

from __future__ import annotations

import re

from modqueue.queue import (
    ReviewQueue,
    list_reviewers,
    pseudonym_for,
    pseudonyms_for,
    reviewer_for_pseudonym,
)
from tests.access.conftest import Team


def test_pseudonyms_are_stable_distinct_and_reversible(review_queue: ReviewQueue) -> None:
    q = review_queue
    with q.session() as s:  # open mode: names without a reviewer record get one too
        alice = pseudonym_for(s, "alice")
        both = pseudonyms_for(s, ["alice", "bob", "alice"])
    assert re.fullmatch(r"rv-[0-9a-f]{8}", alice)
    assert both["alice"] == alice and both["bob"] != alice
    assert "alice" not in alice
    with q.session() as s:
        assert pseudonym_for(s, "alice") == alice
        assert reviewer_for_pseudonym(s, both["bob"]) == "bob"
        assert reviewer_for_pseudonym(s, "rv-00000000") is None


def test_reviewer_list_shows_the_same_pseudonym(team: Team) -> None:
    q = team.queue
    listed = {
        r.name: r.pseudonym for r in q.run(lambda s: list_reviewers(s, actor="root", now=q.clock()))
    }
    with q.session() as s:
        assert pseudonym_for(s, "lead-1") == listed["lead-1"]
    assert len(set(listed.values())) == len(listed)
