"""Prepared statements (the hot path's): the same rows, values and errors as
`Connection.execute`, and renew/release refusals after the guarded UPDATE."""

from __future__ import annotations

import pytest
from sqlalchemy import bindparam, insert, select
from sqlalchemy.exc import IntegrityError

from modqueue import ClaimLost, LeaseExpired
from modqueue.queue import ReviewQueue
from modqueue.queue._core.models import Item
from modqueue.queue._core.prepared import Prepared
from tests.conftest import Clock, make_item

ITEM = Item.metadata.tables["item"]


def test_rows_match_execute(review_queue: ReviewQueue) -> None:
    review_queue.enqueue([make_item(1), make_item(2, policy="hate")])
    statement = select(*ITEM.c).where(ITEM.c.id >= bindparam("low")).order_by(ITEM.c.id)
    prepared = Prepared(statement)
    with review_queue.session() as s:
        conn = s.connection()
        expected = [tuple(r) for r in conn.execute(statement, {"low": 1})]
        got = prepared.rows(conn, {"low": 1})
    assert got == expected
    assert len(got) == 2 and got[0][ITEM.c.keys().index("ingested_at")].tzinfo is not None


def test_driver_errors_are_wrapped(review_queue: ReviewQueue) -> None:
    review_queue.enqueue([make_item(1)])
    with review_queue.session() as s:
        row = s.connection().execute(select(*ITEM.c)).mappings().one()
    columns = {c.name: bindparam(c.name, type_=c.type) for c in ITEM.c if c.name != "id"}
    duplicate = Prepared(insert(ITEM).values(columns))
    with pytest.raises(IntegrityError), review_queue.session() as s:
        duplicate.execute(s.connection(), {k: v for k, v in row.items() if k != "id"})


def test_expanding_parameters_are_refused(review_queue: ReviewQueue) -> None:
    statement = select(ITEM.c.id).where(ITEM.c.queue.in_(bindparam("q", expanding=True)))
    with pytest.raises(ValueError, match="expanding"), review_queue.session() as s:
        Prepared(statement).rows(s.connection(), {"q": ["hate"]})


def test_renew_and_release_refuse_a_claim_that_no_longer_holds(
    review_queue: ReviewQueue, clock: Clock
) -> None:
    review_queue.enqueue([make_item(1)])
    claim = review_queue.claim_next("alice")
    assert claim is not None
    renewed = review_queue.renew(claim)
    assert renewed.token == claim.token and renewed.lease_expires_at >= claim.lease_expires_at
    clock.advance(seconds=review_queue.lease_seconds + 1)
    with pytest.raises(LeaseExpired):
        review_queue.renew(renewed)
    with pytest.raises(LeaseExpired):
        review_queue.release(renewed)
    review_queue.expire_leases()
    again = review_queue.claim_next("bob")
    assert again is not None
    with pytest.raises(ClaimLost):
        review_queue.release(renewed)
    review_queue.release(again, "not mine")
    assert review_queue.claim_next("carol") is not None
