"""The bulk store of ingest (`COPY` on PostgreSQL, `executemany` on SQLite) against the
general path (one SQLAlchemy `INSERT ... ON CONFLICT DO NOTHING RETURNING`): the same
input through both gives the same reports, the same rows and the same audit events."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text

from modqueue.queue import ReviewQueue, ingest_jsonl
from modqueue.queue._core.referrals import TrustedFlagger
from modqueue.queue._items import bulk
from tests.conftest import make_item

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
ROUTED = "Boat to UK, channel crossing tonight, pay on arrival"


@pytest.fixture
def twin_url(second_database_url: str) -> str:
    """A second fresh, migrated database on the backend of `database_url`."""
    return second_database_url


def _jsonl(*lines: Any) -> bytes:
    return b"".join(
        (line if isinstance(line, bytes) else json.dumps(line).encode()) + b"\n" for line in lines
    )


FIRST = _jsonl(
    make_item(1),
    make_item(
        2,
        text="a kayak for sale, see the photos",
        media=[{"kind": "image", "url": "https://cdn.example/k.jpg", "sha256": "AB" * 32}],
        author={"id": "u-9", "handle": "seller"},
        reporter={"id": "r-1", "contact": "r1@example.org", "note": "extra key"},
        report_count=0,
    ),
    make_item(3, policy=None, text=ROUTED),
    make_item(4, policy=None, text="a photo of a sunset over the harbour", signals=[]),
    make_item(5, source="trusted-src", text="an offer of places on a lorry", report_count=0),
    make_item(
        1,
        signals=[{"name": "smuggling-clf-v2", "score": 0.7}, {"name": "hash", "score": 1.0}],
        report_count=9,
        views=3,
    ),
    b"{not json",
    {"source": "platform-reports", "text": "no id"},
    make_item(7, text="a\u0000b"),
    make_item(8, text="lone \ud800 surrogate"),
    make_item(9, policy="no-such-policy"),
    [1, 2],
    make_item(10, text="emoji \U0001f6a4 on the water, crossing talk", report_count=0, views=0),
    make_item(11, text=None, url="https://example.org/post/11"),
    b"",
    make_item(12, text="a boat trip timetable with prices", flagged_at=None),
)

SECOND = _jsonl(
    make_item(1, signals=[{"name": "hash", "score": 0.4}], report_count=2, views=500),
    make_item(2, text="the kayak again, now with a price"),
    make_item(4, policy="people-smuggling", text="a photo of a sunset over the harbour"),
    make_item(5, source="trusted-src", text="an offer of places on a lorry", report_count=3),
    make_item(11, text="now with text: rides across the water", url="https://example.org/11"),
    make_item(12, reporter={"id": "r-2"}, text="a boat trip timetable with prices"),
    make_item(13, text="a fresh item in the second round"),
    make_item(13, text="a fresh item in the second round", views=7, report_count=0),
    {"source": "platform-reports", "external_id": "post-14"},
)


def _run(url: str, *, use_bulk: bool, batch_size: int) -> dict[str, Any]:
    q = ReviewQueue(url, clock=lambda: T0)
    q.flaggers["trusted-src"] = TrustedFlagger("Hotline e.V.", boost=20.0, sla_hours=6)
    try:
        reports = [
            ingest_jsonl(q, [FIRST], batch_size=batch_size, bulk=use_bulk).to_dict(),
        ]
        with q.engine.begin() as conn:
            # Retention purged item 2's content and item 12's (absent) reporter data.
            conn.execute(
                text(
                    "UPDATE item SET content_purged_at = :t, text = NULL "
                    "WHERE external_id = 'post-2'"
                ),
                {"t": T0.replace(tzinfo=None)},
            )
            conn.execute(
                text("UPDATE item SET reporter_purged_at = :t WHERE external_id = 'post-12'"),
                {"t": T0.replace(tzinfo=None)},
            )
        reports.append(ingest_jsonl(q, [SECOND], batch_size=batch_size, bulk=use_bulk).to_dict())
        reports.append(
            ingest_jsonl(q, [FIRST], strict=True, batch_size=batch_size, bulk=use_bulk).to_dict()
        )
        return {"reports": reports, **_tables(q)}
    finally:
        q.close()


def _tables(q: ReviewQueue) -> dict[str, Any]:
    """Every stored value as the database holds it (cast to text: JSON as stored)."""
    with q.engine.connect() as conn:
        item_columns = (
            [
                c
                for (c,) in conn.execute(
                    text(
                        "SELECT column_name FROM information_schema.columns "
                        "WHERE table_name = 'item'"
                    )
                )
            ]
            if q.engine.dialect.name == "postgresql"
            else [r[1] for r in conn.execute(text("PRAGMA table_info(item)"))]
        )
        casts = ", ".join(f"CAST({c} AS TEXT)" for c in sorted(item_columns))
        items = [tuple(r) for r in conn.execute(text(f"SELECT {casts} FROM item ORDER BY id"))]
        events = [
            tuple(r)
            for r in conn.execute(
                text(
                    "SELECT actor, event, item_id, CAST(before AS TEXT), CAST(after AS TEXT), "
                    "CAST(detail AS TEXT) FROM audit_event ORDER BY id"
                )
            )
        ]
    return {"items": items, "events": events}


@pytest.mark.parametrize("batch_size", [1000, 3])
def test_bulk_store_matches_the_general_path(
    database_url: str, twin_url: str, batch_size: int
) -> None:
    fast = _run(database_url, use_bulk=True, batch_size=batch_size)
    general = _run(twin_url, use_bulk=False, batch_size=batch_size)
    assert fast["reports"] == general["reports"]
    assert fast["items"] == general["items"]
    assert fast["events"] == general["events"]
    first, second, strict = fast["reports"]
    # With batches of 3, item 1's second sighting comes in a later batch: a merge.
    assert (first["new"], first["merged"]) == (8, 0 if batch_size > 6 else 1)
    assert [(r["position"], r["reason"][:24]) for r in first["rejected"]] == [
        (7, "malformed JSON: Expectin"),
        (8, "external_id: Field requi"),
        (9, "text contains a NUL char"),
        (10, "text contains an unpaire"),
        (11, "policy: unknown policy '"),
        (12, "expected a JSON object, "),
    ]
    assert (second["new"], second["merged"], len(second["rejected"])) == (1, 6, 1)
    assert (strict["new"], strict["merged"], len(strict["rejected"])) == (0, 0, 6)
    assert len(fast["items"]) == 9
    assert sum(e[1] == "merged" for e in fast["events"]) == 6 + (batch_size <= 6)


def test_a_failing_batch_keeps_the_batches_before_it(
    review_queue: ReviewQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = bulk.insert_new
    calls = []

    def failing_second(session: Any, rows: Any, **options: Any) -> Any:
        calls.append(len(rows))
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return real(session, rows, **options)

    monkeypatch.setattr("modqueue.queue._items.ingest.insert_new", failing_second)
    lines = _jsonl(*(make_item(n, text=f"distinct text {chr(97 + n)} {n}") for n in range(1, 5)))
    with pytest.raises(RuntimeError, match="disk full"):
        ingest_jsonl(review_queue, [lines], batch_size=2)
    with review_queue.session() as s:
        stored = s.execute(text("SELECT external_id FROM item ORDER BY id")).scalars().all()
    assert stored == ["post-1", "post-2"]
