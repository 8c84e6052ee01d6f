"""The second round of ingest shortcuts (issue 17, SQLite at 0.5x of the plain driver
loop) against the general code they stand in for: the counter trigger taken out around
SQLite's bulk insert, the breakdown and signals printed from remembered pieces, lines
validated straight from their JSON text, and the paused garbage collector."""

from __future__ import annotations

import gc
import json
import random
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from modqueue.queue import ReviewQueue, ingest_jsonl, make_engine, migrate
from modqueue.queue._core import priority
from modqueue.queue._core.gc_pause import GcPause
from modqueue.queue._core.priority import score_item, score_item_json
from modqueue.queue._items import bulk
from modqueue.queue._items.ingest import _new_row
from modqueue.queue._items.lines import check_lines
from modqueue.queue._items.schema import item_from_line, validation_reason
from tests.conftest import Clock, make_item
from tests.support.counters import counters, recount

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
_TRIGGER_SQL = "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = :n"


def _lines(*items: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(i).encode() + b"\n" for i in items)


def _trigger(q: ReviewQueue) -> str | None:
    """SQLite's counter trigger as `sqlite_master` has it; PostgreSQL's name, if any."""
    with q.session() as s:
        if q.engine.dialect.name == "sqlite":
            found = s.execute(text(_TRIGGER_SQL), {"n": "item_count_inserted"}).scalar()
        else:
            found = s.execute(
                text("SELECT tgname FROM pg_trigger WHERE tgname = 'item_count_inserted'")
            ).scalar()
    return None if found is None else str(found)


def test_bulk_ingest_counts_items_as_the_trigger_does(review_queue: ReviewQueue) -> None:
    before = _trigger(review_queue)
    assert before is not None
    review_queue.enqueue([make_item(1, text="a kayak on the harbour wall")])
    lines = _lines(
        *(make_item(n, text=f"distinct words {chr(97 + n)} number {n}") for n in range(2, 9)),
        make_item(20, text="no policy given here", policy=None),
        make_item(2, text="distinct words c number 2", report_count=7),  # a merge
    )
    report = ingest_jsonl(review_queue, [lines], batch_size=3)
    assert (report.new, report.merged) == (8, 1)
    assert counters(review_queue) == recount(review_queue)
    assert sum(counters(review_queue).values()) == 9
    # The trigger is back, word for word, and counts what is inserted without the bulk store.
    assert _trigger(review_queue) == before
    ingest_jsonl(review_queue, [_lines(make_item(30, text="a lorry at the gates"))], bulk=False)
    assert counters(review_queue) == recount(review_queue)
    assert sum(counters(review_queue).values()) == 10


@pytest.fixture
def sqlite_queue(tmp_path: Any, clock: Clock) -> Iterator[ReviewQueue]:
    """A migrated SQLite queue: the counter trigger is SQLite's alone (PostgreSQL counts
    a batch insert once per statement already)."""
    url = f"sqlite:///{tmp_path}/modqueue.db"
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    q = ReviewQueue(url, clock=clock)
    yield q
    q.close()


def test_a_failed_bulk_insert_keeps_the_trigger(
    sqlite_queue: ReviewQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk, "_SQLITE_INSERT", "INSERT INTO no_such_table VALUES (?)")
    with pytest.raises(Exception, match="no_such_table"):
        ingest_jsonl(sqlite_queue, [_lines(make_item(1, text="a dinghy at sunset"))])
    monkeypatch.undo()
    with sqlite_queue.session() as s:
        assert s.execute(text(_TRIGGER_SQL), {"n": "item_count_inserted"}).scalar()
    ingest_jsonl(sqlite_queue, [_lines(make_item(2, text="a ferry timetable"))])
    assert counters(sqlite_queue) == recount(sqlite_queue) == {("people-smuggling", "pending"): 1}


def test_bulk_insert_without_the_trigger_inserts(sqlite_queue: ReviewQueue) -> None:
    """A schema without the counter trigger (older databases) is inserted into as it is."""
    with sqlite_queue.session() as s:
        s.execute(text("DROP TRIGGER item_count_inserted"))
        s.commit()
    report = ingest_jsonl(sqlite_queue, [_lines(make_item(1, text="a dinghy at sunset"))])
    assert report.new == 1
    with sqlite_queue.session() as s:
        assert s.execute(text(_TRIGGER_SQL), {"n": "item_count_inserted"}).scalar() is None
    assert counters(sqlite_queue) == {}


def test_breakdown_text_is_what_json_dumps_prints(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(priority, "_PART_MEMO", 64)  # overflow the memos often
    rng = random.Random(17)
    odd: list[Any] = [0, 1, 1.0, True, -0.0, 0.0, -3, 10**20, 2.5]
    for n in range(3000):
        kwargs: dict[str, Any] = {
            "severity": rng.choice([1, 2, 3, 4, 5, True, 3.0]),
            "signals": [
                {
                    "name": rng.choice(["a", "b", 'qu"ote \u00e9', "\U0001f6a4"]),
                    "score": rng.choice([0.0, -0.0, 0.5, 0.37, 1, float("nan")]),
                    **({"weight": rng.choice([0.5, 2])} if rng.random() < 0.3 else {}),
                }
                for _ in range(rng.randint(0, 2))
            ],
            "report_count": rng.choice(odd),
            "views": rng.choice([*odd, rng.randint(0, 10**7)]),
            "deadline_at": T0 + timedelta(seconds=rng.choice([-5.0, 0, 3600, 86_400.5, n])),
            "sla_hours": rng.choice([24, 24.0, 0.0, 6.5]),
            "now": T0 if n % 3 else T0 + timedelta(microseconds=n),
        }
        total, printed = score_item_json(**kwargs)
        want_total, breakdown = score_item(**kwargs)
        assert total == want_total
        assert printed == json.dumps(breakdown), kwargs


def test_new_row_texts_are_the_rows_json(review_queue: ReviewQueue) -> None:
    guidelines = review_queue.guidelines
    lines = _lines(
        make_item(1, text="a kayak"),
        make_item(2, text="a ferry", signals=[], reporter={"id": "r-1"}),
        make_item(3, text="a lorry", policy=None, signals=[{"name": "kw", "score": 1}]),
        make_item(
            4,
            text="x",
            signals=[{"name": "\u00e9t\u00e9", "score": 0.25}, {"name": "b", "score": 0.75}],
        ),
    )
    items = [c.item for c in check_lines([lines], guidelines=guidelines)]
    for item in items:
        assert item is not None
        general, none = _new_row(item, guidelines, T0, None)
        fast, texts = _new_row(item, guidelines, T0, None, texts=True)
        assert none == {} and fast["priority_breakdown"] is None
        assert texts["priority_breakdown"] == json.dumps(general["priority_breakdown"])
        assert texts["signals"] == json.dumps(general["signals"])
        assert {k: v for k, v in fast.items() if k != "priority_breakdown"} == {
            k: v for k, v in general.items() if k != "priority_breakdown"
        }


_LINES = [
    b'{"source":"a","external_id":"x","text":"one","text":"two"}',
    b'{"source":"a","external_id":"x","text":"t\tab"}',
    b'{"source":"a","external_id":"x","text":"t"} x',
    b'{"source":"a","external_id":"x","text":"t"}   ',
    b'{"source":"a","external_id":"x","text":"t","views":1e2}',
    b'{"source":"a","external_id":"x","text":"t","zz":NaN}',
    b'{"source":"a","external_id":"x","text":"t","views":NaN}',
    b'{"source":"a","external_id":"x","text":"t","signals":[{"name":"n","score":1}]}',
    b'{"source":"a","external_id":"x","text":"t","signals":[{"name":"n","score":"0.5"}]}',
    b'{"source":"a","external_id":"x","text":"t","flagged_at":"2026-11-24T08:00:00Z"}',
    b'{"source":"a","external_id":"x","text":"t","flagged_at":"2026-11-24T08:00:00"}',
    b'{"source":"a","external_id":"x","text":"t","flagged_at":1700000000}',
    b'{"source":"a","external_id":"x","text":"t","views":100000000000000000000000}',
    b'{"source":"a","external_id":"x","text":"t","report_count":true}',
    b'{"source":"a","external_id":"x","text":"t","report_count":-1}',
    b'{"source":"a","external_id":"x","text":"t","zz":1e400}',
    b'{"source":"a","external_id":"x","text":"\\u00e9\\ud83d\\ude00"}',
    b'{"source":"a","external_id":"x","text":"nul \\u0000"}',
    b'{"source":"a","external_id":"x","text":"lone \\ud800"}',
    b'{"source":"a","external_id":7,"text":"t"}',
    b'{"source":"a","external_id":"x"}',
    b'["source","a"]',
    b'{"source":"a","external_id":"x","media":[{"kind":"image","url":"https://e.x/a.png",'
    b'"sha256":"' + b"A" * 64 + b'"}]}',
    b'{"source":"a","external_id":"x","text":"t","reporter":{"id":"r","extra":[1,2.5,'
    b'{"k":null}],"big":123456789012345678901234567890,"f":-0.0}}',
    b'{"source":"a","external_id":"x","text":"t","author":{"handle":"h"},"policy":"p"}',
    b"[" * 5000 + b"]" * 5000,
]


@pytest.mark.parametrize("line", _LINES)
def test_a_line_validated_from_its_text_is_the_general_paths_item(line: bytes) -> None:
    try:
        value = json.loads(line)
    except (ValueError, RecursionError):
        assert item_from_line(line) is None
        return
    general, _ = validation_reason(value, line=line)
    fast = item_from_line(line)
    if fast is not None:
        assert general is not None
        assert fast.model_dump() == general.model_dump()
        assert json.dumps(fast.model_dump(mode="json")) == json.dumps(
            general.model_dump(mode="json")
        )


def test_rejections_read_the_same_with_the_one_pass_path(review_queue: ReviewQueue) -> None:
    lines = b"\n".join([*_LINES[:-1], b"", b"  ", b"\xff\xfe"]) + b"\n"
    checked = list(check_lines([lines], guidelines=review_queue.guidelines))
    expected: list[tuple[int, dict[str, Any] | None]] = []
    for n, raw in enumerate(lines.split(b"\n")[:-1], start=1):
        if not raw.strip():
            continue
        try:
            value = json.loads(raw)
        except (ValueError, RecursionError):
            expected.append((n, None))
            continue
        item, _ = validation_reason(value, line=raw)
        if item is not None and item.policy and item.policy not in review_queue.guidelines:
            item = None
        expected.append((n, None if item is None else item.model_dump()))
    got = [(c.line, None if c.item is None else c.item.model_dump()) for c in checked]
    assert got == expected
    assert all(c.rejection is not None for c in checked if c.item is None)


def test_gc_pause_nests_and_restores() -> None:
    assert gc.isenabled()
    first, second = GcPause(), GcPause()
    first.pause()
    first.pause()  # idempotent
    assert not gc.isenabled()
    second.pause()
    first.resume()
    assert not gc.isenabled()  # the second still holds it
    second.resume()
    second.resume()
    assert gc.isenabled()
    gc.disable()  # a program that turned it off keeps it off
    try:
        first.pause()
        first.resume()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_gc_pause_across_threads() -> None:
    pauses = [GcPause() for _ in range(8)]
    barrier = threading.Barrier(8)

    def hold(p: GcPause) -> None:
        p.pause()
        barrier.wait()
        p.resume()

    threads = [threading.Thread(target=hold, args=(p,)) for p in pauses]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert gc.isenabled()


def test_ingest_leaves_the_collector_on(review_queue: ReviewQueue) -> None:
    lines = _lines(*(make_item(n, text=f"words {chr(97 + n)} item {n}") for n in range(1, 6)))
    ingest_jsonl(review_queue, [lines + b"not json\n"], batch_size=2)
    assert gc.isenabled()
