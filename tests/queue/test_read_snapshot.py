"""Read-only work sees one snapshot and writes nothing, on both backends.

`ReviewQueue.read` (`read_session`) and `read_connection` back the dashboard, stats,
reports and the export: figures read by several statements must agree with each other
while decisions commit beside them. On SQLite a read transaction under WAL is a snapshot;
on PostgreSQL the read is `REPEATABLE READ READ ONLY` (read committed would let the second
statement see a commit the first did not).
"""

from __future__ import annotations

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, col

from modqueue.queue import Item, ReviewQueue, read_connection
from tests.conftest import make_item


def _views(s: Session, item_id: int) -> int:
    return int(s.execute(select(col(Item.views)).where(col(Item.id) == item_id)).scalar_one())


def test_a_read_keeps_its_snapshot_while_a_writer_commits(review_queue: ReviewQueue) -> None:
    q = review_queue
    q.enqueue([make_item(1)])
    item_id = q.get_item(1).id
    assert item_id is not None

    def work(s: Session) -> tuple[int, int, int]:
        before = _views(s, item_id)
        q.run(lambda w: w.execute(update(Item).values(views=before + 1)))
        committed = q.get_item(1).views  # another transaction sees the commit
        return before, committed, _views(s, item_id)

    before, committed, again = q.read(work)
    assert committed == before + 1
    assert again == before  # the read's own snapshot, taken by its first statement
    assert q.get_item(1).views == before + 1


def test_a_read_connection_keeps_its_snapshot(review_queue: ReviewQueue) -> None:
    q = review_queue
    q.enqueue([make_item(1)])
    query = select(col(Item.views)).where(col(Item.external_id) == make_item(1)["external_id"])
    with read_connection(q.engine) as conn:
        before = int(conn.execute(query).scalar_one())
        q.run(lambda w: w.execute(update(Item).values(views=before + 7)))
        assert int(conn.execute(query).scalar_one()) == before
    assert q.get_item(1).views == before + 7


def test_a_read_may_not_write(review_queue: ReviewQueue) -> None:
    q = review_queue
    q.enqueue([make_item(1)])
    before = q.get_item(1).views
    with pytest.raises(DBAPIError, match=r"(?i)read.?only"):
        q.read(lambda s: s.execute(update(Item).values(views=before + 1)))
    assert q.get_item(1).views == before
    # The pooled connection writes again in an ordinary transaction afterwards.
    q.run(lambda s: s.execute(update(Item).values(views=before + 2)))
    assert q.get_item(1).views == before + 2
