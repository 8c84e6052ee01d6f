"""Migrations on a database that holds data: down to the revision before this round's
schema changes and back up again, with items, decisions, outbox rows and audit events
referring to one another. On SQLite, batch mode rebuilds `item` (copy, drop, rename),
which foreign keys would refuse once a row refers to it."""

from __future__ import annotations

from alembic import command
from sqlalchemy import func, select, text
from sqlmodel import Session

from modqueue.queue import AuditEvent, Decision, Item, OutboundAction, ReviewQueue
from modqueue.queue._core.db import alembic_config
from tests.conftest import make_item

BEFORE_THIS_ROUND = "0012_model_registry_modelloop"


def _counts(q: ReviewQueue) -> dict[str, int]:
    with Session(q.engine) as s:
        return {
            model.__name__: int(s.scalar(select(func.count()).select_from(model)) or 0)
            for model in (Item, Decision, OutboundAction, AuditEvent)
        }


def test_down_and_up_again_with_rows_that_refer_to_items(review_queue: ReviewQueue) -> None:
    q = review_queue
    assert q.enqueue([make_item(n, text=f"item {word}") for n, word in enumerate("abc")]).new == 3
    claim = q.claim_next("ana")
    assert claim is not None
    q.decide(claim, "remove-fake-documents")
    before = _counts(q)
    assert before["Decision"] == 1 and before["OutboundAction"] == 1

    config = alembic_config(q.engine)
    command.downgrade(config, BEFORE_THIS_ROUND)
    command.upgrade(config, "heads")

    after = _counts(q)
    assert {k: after[k] for k in ("Item", "Decision", "OutboundAction")} == {
        k: before[k] for k in ("Item", "Decision", "OutboundAction")
    }
    assert after["AuditEvent"] >= before["AuditEvent"]  # re-sealing may add an event
    with q.engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            assert conn.execute(text("PRAGMA foreign_key_check")).fetchall() == []
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    assert q.get_item(claim.item_id).status == "decided"
