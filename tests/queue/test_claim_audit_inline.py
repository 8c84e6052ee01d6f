"""The claim's audit event (issue 17): on PostgreSQL the claim statement appends it
itself (`_audit.inline`), the database completing and hashing the canonical bytes; on
both backends the trail it leaves verifies, whoever claims (names outside ASCII, a
service identity) and whatever else the transaction appends; on PostgreSQL a chain whose
id sequence fell behind its head is appended to as before."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text

from modqueue.queue import ReviewQueue
from modqueue.queue._audit.chain import GENESIS_HASH, event_hash
from tests.conftest import Clock, make_item
from tests.support.claims import check_trail, claimed_events, pg_review_queue

WORDS = ["azure", "bramble", "cobalt", "dapple", "ember", "flint", "garnet", "hazel"]
WORDS += ["indigo", "jasper", "kestrel", "lichen", "mica", "nimbus", "ochre", "pewter"]


def item(n: int) -> dict[str, Any]:
    """Item n, with a text of its own (texts differing only in digits would fold)."""
    words = " ".join(WORDS[(n // len(WORDS) ** k) % len(WORDS)] for k in range(3))
    return make_item(n, text=f"{words} listing seen near {WORDS[n % len(WORDS)]}")


def test_claims_leave_a_trail_that_verifies(review_queue: ReviewQueue) -> None:
    q = review_queue
    assert q.enqueue([item(n) for n in range(8)]).new == 8
    claims = []
    for reviewer in ["ana", "zoë", "李雷", 'o\'brien "q"', "ana"]:
        claim = q.claim_next(reviewer)
        assert claim is not None
        claims.append(claim)
    q.release(claims[0], note="back to the queue")
    again = q.claim_next("ben")
    assert again is not None
    check_trail(q)
    events = claimed_events(q)
    assert [(e.actor, e.item_id) for e in events] == [
        (c.reviewer, c.item_id) for c in [*claims, again]
    ]
    for e, c in zip(events, [*claims, again], strict=True):
        assert e.before == {"status": "pending"}
        assert e.after == {"status": "claimed", "lease_expires_at": c.lease_expires_at.isoformat()}
        assert e.hash == event_hash(e, e.prev_hash or GENESIS_HASH)


def test_a_service_identity_is_named_in_the_claims_event(review_queue: ReviewQueue) -> None:
    q = review_queue
    assert q.enqueue([item(n) for n in range(2)]).new == 2
    q.service = "desk-service"
    claim = q.claim_next("ana")
    assert claim is not None
    [claimed] = claimed_events(q)
    assert claimed.detail == {"service": "desk-service"}
    check_trail(q)


@pytest.fixture
def pg_queue(request: pytest.FixtureRequest, clock: Clock) -> Iterator[ReviewQueue]:
    """A queue on a fresh PostgreSQL database (the claim statement appends the event
    only there; SQLite appends it as every other event)."""
    with pg_review_queue(request, clock) as q:
        yield q


def test_postgresql_appends_as_before_when_the_id_sequence_is_behind(
    pg_queue: ReviewQueue,
) -> None:
    q = pg_queue
    assert q.enqueue([item(n) for n in range(4)]).new == 4
    assert q.claim_next("ana") is not None
    # The sequence set back behind the trail (a restore, a reset): the id the
    # transaction took ahead is not past the head, so the claim statement appends
    # nothing and the event is appended the usual way (which moves the sequence on).
    with q.engine.connect() as conn:
        conn.execute(text("SELECT setval(pg_get_serial_sequence('audit_event', 'id'), 1)"))
        conn.commit()
    claim = q.claim_next("ben")
    assert claim is not None
    events = claimed_events(q)
    assert [e.actor for e in events] == ["ana", "ben"]
    assert events[-1].item_id == claim.item_id
    check_trail(q)
    assert q.claim_next("cleo") is not None
    check_trail(q)
