"""Prepared statements (the hot path's): the same rows, values and errors as
`Connection.execute`, and renew/release refusals after the guarded UPDATE."""

from __future__ import annotations

import pytest
from sqlalchemy import bindparam, event, insert, literal_column, or_, select
from sqlalchemy.exc import IntegrityError

from modqueue import ClaimLost, LeaseExpired
from modqueue.queue import ReviewQueue
from modqueue.queue._core.models import Item
from modqueue.queue._core.prepared import Prepared, _numbered
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


def test_numbered_placeholders() -> None:
    sql, names = _numbered(
        "SELECT %(a)s, %(b_1)s::VARCHAR FROM t WHERE x LIKE '%%:senior' AND y = %(a)s"
    )
    assert sql == "SELECT $1, $2::VARCHAR FROM t WHERE x LIKE '%:senior' AND y = $1"
    assert names == ["a", "b_1"]


def test_long_statement_with_repeated_parameters_matches_execute(
    review_queue: ReviewQueue,
) -> None:
    """A statement over psycopg's 4,096-character cache limit, naming one parameter many
    times and holding a literal `%`: the same rows as `execute`; on PostgreSQL it runs with
    `$n` placeholders (a raw cursor) and each name is bound once."""
    review_queue.enqueue([make_item(1), make_item(2, policy="hate"), make_item(3)])
    matches = [ITEM.c.policy == bindparam("policy") for _ in range(300)]
    statement = (
        select(ITEM.c.id, ITEM.c.ingested_at, ITEM.c.priority_breakdown)
        .where(
            or_(*matches),
            ITEM.c.id >= bindparam("low"),
            ITEM.c.queue.not_like(literal_column("'%:senior'")),
        )
        .order_by(ITEM.c.id)
    )
    prepared = Prepared(statement)
    sent: list[tuple[str, object]] = []
    with review_queue.session() as s:
        conn = s.connection()
        expected = [tuple(r) for r in conn.execute(statement, {"policy": "hate", "low": 1})]

        def seen(_c: object, _cur: object, sql: str, params: object, *_: object) -> None:
            sent.append((sql, params))

        event.listen(review_queue.engine, "before_cursor_execute", seen)
        try:
            got = prepared.rows(conn, {"policy": "hate", "low": 1})
            again = prepared.rows(conn, {"policy": "hate", "low": 1})
        finally:
            event.remove(review_queue.engine, "before_cursor_execute", seen)
    assert got == expected == again
    assert [r[0] for r in got] == [2]
    sql, params = sent[0]
    assert len(sql) > 4096
    if review_queue.engine.dialect.name == "postgresql":
        assert "%(" not in sql and "$1" in sql and "'%:senior'" in sql
        assert isinstance(params, list) and len(params) == 2
