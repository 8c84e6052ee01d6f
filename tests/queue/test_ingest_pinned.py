"""Ingest's stored results pinned: the same input at the same clock stores the same item
rows, audit events (on SQLite, where there is one chain, the same hashes too), flood
hits and incidents as the code before the ingest speed-ups (issue 17, `sqlingest`).

The digests were computed by this file's `_digest` on main `ded3b3a` (before the
speed-ups): a change to what ingest stores changes them. If a change is meant to, say
so in the commit and compute them again."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text

from modqueue.queue import FloodsConfig, ReviewQueue, ingest_jsonl, verify_chain
from modqueue.queue._core.referrals import TrustedFlagger
from tests.conftest import make_item

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)

PINNED = {
    "sqlite": "3bf054de8f4c1b97f67bbe81bb83b94c1557b756039915fa1460d7ab6bd91e6a",
    "postgresql": "79330a2ee114014986c872222a504cbdb03cf242f086fec9c7c8f5f3cc7b3cdb",
}

ADDED_SINCE_PIN = {"content_split"}
"""Item columns added after the digests were pinned, each with tests of its own
(`content_split`: migration 0028, `tests/integrations/export/test_stored_splits.py`)."""

_WORDS = ["harbour", "lorry", "kayak", "ferry", "timetable", "crossing", "sunset", "dinghy"]


def _distinct(n: int) -> str:
    """A text of its own for item `n` (texts differing only in digits would cluster)."""
    return " ".join(_WORDS[(n * k + k) % len(_WORDS)] for k in range(1, 6)) + f" {_WORDS[n % 8]}"


def _jsonl(*lines: Any) -> bytes:
    return b"".join(
        (line if isinstance(line, bytes) else json.dumps(line).encode()) + b"\n" for line in lines
    )


FIRST = _jsonl(
    *(
        make_item(
            n,
            text=_distinct(n),
            signals=[
                {"name": "smuggling-clf-v2", "score": round(0.03 * n, 2)},
                {"name": "noisy-clf", "score": 0.9},
            ]
            if n % 3 == 0
            else [{"name": "smuggling-clf-v2", "score": round(0.031 * n, 2)}],
            report_count=n % 4,
            views=n * 977,
            reporter={"id": "r-flood", "contact": "flood@example.org"} if n % 5 == 0 else None,
            policy=None if n % 7 == 0 else "people-smuggling",
            flagged_at=None if n % 11 == 0 else f"2026-11-24T0{n % 9}:15:00Z",
        )
        for n in range(1, 31)
    ),
    make_item(5, text=_distinct(5), report_count=7, views=3),
    make_item(40, source="trusted-src", text="an offer of places on a lorry", report_count=0),
    b"{not json",
    {"source": "platform-reports", "text": "no id"},
    make_item(41, text="a\u0000b"),
    make_item(42, policy="no-such-policy"),
    make_item(43, text=None, url="https://example.org/post/43"),
)

SECOND = _jsonl(
    make_item(1, signals=[{"name": "hash", "score": 0.4}], report_count=2, views=500),
    make_item(43, text="now with text: rides across the water", url="https://example.org/43"),
    make_item(6, reporter={"id": "r-2"}, text=_distinct(6)),
    make_item(50, text="a fresh item in the second round", reporter={"id": "r-flood"}),
    make_item(40, source="trusted-src", text="an offer of places on a lorry", report_count=3),
)


def _digest(url: str) -> tuple[str, dict[str, Any]]:
    """Run the scenario on the empty database `url`: `(digest, reports and chain)`."""
    q = ReviewQueue(url, clock=lambda: T0, floods=FloodsConfig(reporter=3))
    q.flaggers["trusted-src"] = TrustedFlagger("Hotline e.V.", boost=20.0, sla_hours=6)
    try:
        q.mark_source_unreliable("noisy-clf", "lead-1", reason="pinned test")
        reports = [
            ingest_jsonl(q, [FIRST], batch_size=8, fingerprint=False).to_dict(),
            ingest_jsonl(q, [SECOND], batch_size=3, fingerprint=False).to_dict(),
            ingest_jsonl(q, [FIRST], strict=True, fingerprint=False).to_dict(),
        ]
        sqlite = q.engine.dialect.name == "sqlite"
        with q.engine.connect() as conn:
            columns = (
                [r[1] for r in conn.execute(text("PRAGMA table_info(item)"))]
                if sqlite
                else [
                    c
                    for (c,) in conn.execute(
                        text(
                            "SELECT column_name FROM information_schema.columns "
                            "WHERE table_name = 'item'"
                        )
                    )
                ]
            )
            casts = ", ".join(
                f"CAST({c} AS TEXT)" for c in sorted(columns) if c not in ADDED_SINCE_PIN
            )
            items = [list(r) for r in conn.execute(text(f"SELECT {casts} FROM item ORDER BY id"))]
            # On PostgreSQL the chain an event joins (and so its hash) depends on the
            # process id: its hashes are checked by verifying the chain instead.
            hashes = ", chain, prev_hash, hash" if sqlite else ""
            events = [
                list(r)
                for r in conn.execute(
                    text(
                        "SELECT id, CAST(at AS TEXT), actor, event, item_id, CAST(before AS TEXT), "
                        f"CAST(after AS TEXT), CAST(detail AS TEXT){hashes} "
                        "FROM audit_event ORDER BY id"
                    )
                )
            ]
            hits = [
                list(r)
                for r in conn.execute(
                    text(
                        "SELECT kind, key, item_id, CAST(at AS TEXT) FROM flood_hit "
                        "ORDER BY kind, key, item_id"
                    )
                )
            ]
            incidents = [
                list(r)
                for r in conn.execute(
                    text("SELECT id, kind, key, status, item_count FROM flood_incident ORDER BY id")
                )
            ]
        chain = q.read(verify_chain)
    finally:
        q.close()
    stored = {"items": items, "events": events, "hits": hits, "incidents": incidents}
    blob = json.dumps({"reports": reports, **stored}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest(), {
        "reports": reports,
        "chain_ok": chain.ok,
        "events": len(events),
        "incidents": incidents,
    }


def test_ingest_stores_what_it_stored_before(database_url: str) -> None:
    digest, seen = _digest(database_url)
    assert seen["chain_ok"]
    first, second, strict = seen["reports"]
    assert (first["new"], first["merged"], len(first["rejected"])) == (32, 1, 4)
    assert (second["new"], second["merged"]) == (1, 4)
    assert (strict["new"], strict["merged"], len(strict["rejected"])) == (0, 0, 4)
    assert seen["incidents"] == [[1, "reporter", "r-flood", "open", 7]]
    backend = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    assert digest == PINNED[backend]
