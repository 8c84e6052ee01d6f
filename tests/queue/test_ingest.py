"""Ingest: validation with reasons, idempotent merges, routing, strict mode."""

from __future__ import annotations

import io
import json

import pytest
from sqlalchemy import func
from sqlmodel import select

from modqueue.queue import AuditEvent, Item, ReviewQueue, read_jsonl
from modqueue.queue._items.schema import MAX_TEXT_BYTES
from tests.conftest import make_item


def _count(q: ReviewQueue) -> int:
    with q.session() as s:
        return int(s.exec(select(func.count()).select_from(Item)).one())


def test_enqueue_new_and_merge_is_idempotent(review_queue: ReviewQueue) -> None:
    report = review_queue.enqueue([make_item(1), make_item(2)])
    assert (report.new, report.merged, report.rejected) == (2, 0, [])
    again = review_queue.enqueue(
        [
            make_item(
                1,
                signals=[
                    {"name": "smuggling-clf-v2", "score": 0.9},
                    {"name": "hash", "score": 1.0},
                ],
                report_count=14,
                views=5,
            )
        ]
    )
    assert (again.new, again.merged) == (0, 1)
    assert _count(review_queue) == 2
    with review_queue.session() as s:
        row = s.exec(select(Item).where(Item.external_id == "post-1")).one()
        assert row.report_count == 14
        assert row.views == 100  # the higher of the two sightings
        assert {x["name"]: x["score"] for x in row.signals} == {
            "smuggling-clf-v2": 0.9,
            "hash": 1.0,
        }
        events = [e.event for e in s.exec(select(AuditEvent).where(AuditEvent.item_id == row.id))]
    assert events == ["ingested", "merged"]


def test_duplicates_within_one_batch_make_one_item(review_queue: ReviewQueue) -> None:
    report = review_queue.enqueue([make_item(1), make_item(1, report_count=3)])
    assert report.new == 1
    assert _count(review_queue) == 1
    assert review_queue.get_item(1).report_count == 3


def test_routing_without_policy(review_queue: ReviewQueue) -> None:
    routed = make_item(1, policy=None, text="Boat to UK, channel crossing tonight, pay on arrival")
    unmatched = make_item(2, policy=None, text="a photo of a sunset", signals=[])
    review_queue.enqueue([routed, unmatched])
    assert review_queue.get_item(1).queue == "people-smuggling"
    assert review_queue.get_item(2).queue == "triage"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ({"external_id": "x", "text": "t"}, "source: Field required"),
        ({"source": "s", "text": "t"}, "external_id: Field required"),
        ({"source": "s", "external_id": "x"}, "needs at least one of text, url or media"),
        ({"source": "s", "external_id": "x", "text": "t", "views": "many"}, "views:"),
        ({"source": "s", "external_id": "x", "text": "t", "report_count": 1.5}, "report_count:"),
        ({"source": "s", "external_id": "x", "text": "a\x00b"}, "NUL character"),
        ({"source": "s", "external_id": "x", "url": "ftp://x"}, "url:"),
        ({"source": "s", "external_id": "x", "text": "t", "policy": "nope"}, "unknown policy"),
        (
            {
                "source": "s",
                "external_id": "x",
                "text": "t",
                "signals": [{"name": "a", "score": 2}],
            },
            "signals.0.score",
        ),
        (
            {"source": "s", "external_id": "x", "text": "t", "flagged_at": "2026-11-20T10:00:00"},
            "flagged_at",
        ),
        ([1, 2], "expected a JSON object"),
    ],
)
def test_rejections_name_the_problem(review_queue: ReviewQueue, raw: object, reason: str) -> None:
    report = review_queue.enqueue([make_item(1), raw, make_item(2)])
    assert report.new == 2, "valid items around a bad one are kept"
    assert len(report.rejected) == 1
    assert report.rejected[0].position == 1
    assert reason in report.rejected[0].reason


def test_text_size_limit(review_queue: ReviewQueue) -> None:
    big = "x" * (MAX_TEXT_BYTES + 1)
    ok = "y" * (5 * 1024 * 1024)
    report = review_queue.enqueue([make_item(1, text=big), make_item(2, text=ok)])
    assert report.new == 1
    assert "over the 8,388,608-byte limit" in report.rejected[0].reason
    assert review_queue.get_item(1).text == ok


def test_strict_accepts_all_or_none(review_queue: ReviewQueue) -> None:
    report = review_queue.enqueue([make_item(1), {"source": "s"}], strict=True)
    assert report.new == 0
    assert _count(review_queue) == 0
    report = review_queue.enqueue([make_item(1), make_item(2)], strict=True)
    assert report.new == 2


def test_read_jsonl_reports_line_numbers() -> None:
    data = (
        b"\xef\xbb\xbf"
        + json.dumps(make_item(1)).encode()
        + b"\n\n   \n{not json\n\xff\xfe\xfd\n"
        + json.dumps(make_item(2)).encode()
        + b"\n"
    )
    lines = list(read_jsonl(io.BytesIO(data)))
    assert [(p.line, p.error is None) for p in lines] == [
        (1, True),
        (4, False),
        (5, False),
        (6, True),
    ]
    assert lines[0].value["external_id"] == "post-1", "the BOM is dropped"
    assert lines[1].error is not None and lines[1].error.startswith("malformed JSON")
    assert lines[2].error == "invalid UTF-8 at byte 1"
