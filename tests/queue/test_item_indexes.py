"""Migration 0031: `item` keeps an index entry only where a query reads it (the cluster
index holds only the items in a cluster, the unused `notice_type, source` index is
gone), the cluster queries still read their index, and on PostgreSQL `item` is
vacuumed by its count of dead rows, with its indexes. Down and up again on a filled
database."""

from __future__ import annotations

from alembic import command
from sqlalchemy import Connection, text

from modqueue.queue import ReviewQueue
from modqueue.queue._core.db import alembic_config
from tests.conftest import make_item

BEFORE = "0030_dash4_handling_buckets"
AUTOVACUUM = {
    "autovacuum_vacuum_scale_factor=0.005",
    "autovacuum_vacuum_threshold=1000",
    "autovacuum_analyze_scale_factor=0.02",
    "vacuum_index_cleanup=on",
}


def _item_indexes(conn: Connection) -> dict[str, str]:
    """`item`'s indexes by name: their definitions, as the catalogue keeps them."""
    if conn.dialect.name == "postgresql":
        sql = "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'item'"
    else:
        sql = "SELECT name, coalesce(sql, '') FROM sqlite_master WHERE tbl_name = 'item'"
    return {name: definition for name, definition in conn.execute(text(sql)).all()}


def _reloptions(conn: Connection) -> set[str]:
    """PostgreSQL: `item`'s storage parameters; SQLite has none."""
    if conn.dialect.name != "postgresql":
        return set()
    found = conn.execute(text("SELECT reloptions FROM pg_class WHERE relname = 'item'")).scalar()
    return set(found or [])


def _plan_of_cluster_query(conn: Connection) -> str:
    """The plan of a query by cluster id, as the cluster views and decisions ask it."""
    query = "SELECT id FROM item WHERE cluster_id = 7"
    if conn.dialect.name == "postgresql":
        # A table of a few rows is read whole unless sequential scans are ruled out.
        conn.execute(text("SET LOCAL enable_seqscan = off"))
        rows = conn.execute(text(f"EXPLAIN {query}")).all()
        return "\n".join(str(r[0]) for r in rows)
    rows = conn.execute(text(f"EXPLAIN QUERY PLAN {query}")).all()
    return "\n".join(str(r[-1]) for r in rows)


def test_item_indexes_and_vacuum_settings_of_0031(review_queue: ReviewQueue) -> None:
    q = review_queue
    with q.engine.begin() as conn:
        indexes = _item_indexes(conn)
        assert "ix_item_notice_source" not in indexes
        assert "cluster_id IS NOT NULL" in indexes["ix_item_cluster_id"]
        assert "ix_item_cluster_id" in _plan_of_cluster_query(conn)
        postgresql = conn.dialect.name == "postgresql"
        assert _reloptions(conn) == (AUTOVACUUM if postgresql else set())


def test_0031_down_and_up_again_on_a_filled_database(review_queue: ReviewQueue) -> None:
    q = review_queue
    texts = ["harbour crossing tonight", "forged passport for sale", "pills by post"]
    assert q.enqueue([make_item(n, text=t) for n, t in enumerate(texts)]).new == 3
    claim = q.claim_next("ana")
    assert claim is not None
    q.decide(claim, "remove-fake-documents")

    config = alembic_config(q.engine)
    command.downgrade(config, BEFORE)
    with q.engine.connect() as conn:
        indexes = _item_indexes(conn)
        assert "ix_item_notice_source" in indexes
        assert "NOT NULL" not in indexes["ix_item_cluster_id"]
        assert _reloptions(conn) == set()
    command.upgrade(config, "heads")
    with q.engine.begin() as conn:
        indexes = _item_indexes(conn)
        assert "ix_item_notice_source" not in indexes
        assert "cluster_id IS NOT NULL" in indexes["ix_item_cluster_id"]
        assert _reloptions(conn) == (AUTOVACUUM if conn.dialect.name == "postgresql" else set())

    again = q.claim_next("ana")
    assert again is not None and again.item_id != claim.item_id
    assert q.get_item(claim.item_id).status == "decided"
