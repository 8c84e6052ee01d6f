"""The shortcuts of ingest's hot path (issue 17, SQLite at 0.5x of the plain driver loop)
against the general code they stand in for: `Prepared.executemany` against
`Connection.execute` with the same rows, the SQLite read of a batch's flood rows against
the SQLAlchemy select, and `score_item`'s remembered parts against the reference
implementation with inputs repeated (and the memo overflowing)."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import bindparam, insert, select, text

from modqueue.queue import ReviewQueue
from modqueue.queue._core import priority
from modqueue.queue._core.models import AuditEvent
from modqueue.queue._core.prepared import Prepared
from modqueue.queue._core.priority import score_item
from modqueue.queue._items import floods
from tests.conftest import make_item
from tests.queue.test_priority_reference import _reference

AUDIT = AuditEvent.metadata.tables["audit_event"]
_COLUMNS = ["id", "chain", "at", "actor", "event", "item_id", "before", "after", "detail"]
T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def _audit_rows(first_id: int) -> list[dict[str, Any]]:
    shared = T0 + timedelta(seconds=1)
    rows = []
    for n in range(6):
        rows.append(
            {
                "id": first_id + n,
                "chain": 0,
                # One datetime object shared by several rows, one of another zone, and
                # equal datetimes that are different objects.
                "at": shared
                if n % 2
                else (T0 + timedelta(minutes=n)).astimezone(timezone(timedelta(hours=2))),
                "actor": "tester",
                "event": f"e{n}",
                "item_id": None if n == 3 else n,
                "before": None if n % 3 else {"status": "pending", "n": n},
                "after": {"emoji": "\U0001f6a4", "nested": {"k": [1, 2.5, None]}, "n": n},
                "detail": None,
            }
        )
    return rows


def test_executemany_stores_what_execute_stores(review_queue: ReviewQueue) -> None:
    statement = Prepared(
        insert(AUDIT).values({c: bindparam(c, type_=AUDIT.c[c].type) for c in _COLUMNS})
    )
    with review_queue.session() as s:
        conn = s.connection()
        # PostgreSQL too: `Prepared` binds psycopg's `$n` placeholders positionally.
        conn.execute(insert(AUDIT), _audit_rows(1))
        statement.executemany(conn, _audit_rows(101))
        statement.executemany(conn, [])
        stored = conn.execute(
            text(
                "SELECT id, chain, at, actor, event, item_id, before, after, detail, "
                "before IS NULL "
                "FROM audit_event WHERE actor = 'tester' ORDER BY id"
            )
        ).all()
    general = [tuple(r)[1:] for r in stored if r[0] < 100]
    fast = [tuple(r)[1:] for r in stored if r[0] > 100]
    assert len(general) == 6 and fast == general
    # A JSON column's None is stored as JSON null, not SQL NULL (SQLite reads it as text).
    assert general[1][8] is False or general[1][8] == 0
    if review_queue.engine.dialect.name == "sqlite":
        assert general[1][5] == "null"


def test_batch_rows_read_as_the_select_reads_them(review_queue: ReviewQueue) -> None:
    review_queue.enqueue(
        [
            make_item(1, text="a kayak on the harbour wall"),
            make_item(2, text="a ferry timetable", reporter={"id": "r-1", "note": "x"}),
            make_item(3, text="places on a lorry", signals=[], flagged_at=None),
            make_item(4, text="a dinghy at sunset", policy=None),
        ]
    )
    with review_queue.session() as s:
        conn = s.connection()
        ids = [int(i) for i in conn.execute(text("SELECT id FROM item ORDER BY id")).scalars()]
        got = sorted((tuple(r) for r in floods._batch_rows(conn, ids)), key=lambda r: r[0])
        expected = sorted(
            (tuple(r) for r in conn.execute(select(*floods._ROW_COLUMNS))), key=lambda r: r[0]
        )
    assert got == expected
    assert got[1][3] == {"id": "r-1", "note": "x"} and got[0][3] is None
    assert got[0][8].tzinfo is not None and got[2][4] == []


def test_remembered_parts_score_as_the_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(priority, "_PART_MEMO", 64)  # overflow it often
    rng = random.Random(17)
    now = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    odd_inputs: list[Any] = [0, 1, 1.0, True, -0.0, 0.0, -3, 10**20, 2.5]
    for n in range(3000):
        kwargs: dict[str, Any] = {
            "severity": rng.choice([1, 2, 3, 4, 5, True, 3.0]),
            "signals": [
                {"name": rng.choice(["a", "b"]), "score": rng.choice([0.0, -0.0, 0.5, 0.37, 1])}
                for _ in range(rng.randint(0, 2))
            ],
            "report_count": rng.choice(odd_inputs),
            "views": rng.choice([*odd_inputs, rng.randint(0, 10**7)]),
            "deadline_at": now + timedelta(seconds=rng.choice([-5.0, 0, 3600, 86_400.5, n])),
            "sla_hours": rng.choice([24, 24.0, 0.0, 6.5]),
            "now": now,
        }
        got = score_item(**kwargs)
        want = _reference(**kwargs)
        assert got[0] == want[0]
        assert json.dumps(got[1]) == json.dumps(want[1]), kwargs
