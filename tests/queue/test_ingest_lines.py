"""The one ingest loop: bounded line reading, the shared checks, and a 1 GiB line."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from modqueue.queue import (
    MAX_LINE_BYTES,
    Item,
    Rejection,
    ReviewQueue,
    check_items,
    check_lines,
    ingest_jsonl,
    read_jsonl,
)
from tests.conftest import make_item

GIB = 1024 * 1024 * 1024


def _line(item: dict[str, Any]) -> bytes:
    return json.dumps(item).encode() + b"\n"


def _count(queue: ReviewQueue) -> int:
    with queue.session() as s:
        return int(s.scalar(select(func.count()).select_from(Item)) or 0)


class Trickle:
    """A binary stream handing out `data` a few bytes per `read`, whatever was asked:
    every line break falls at every possible place relative to a chunk's end."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data, self._step, self._at = data, step, 0

    def read(self, n: int = -1) -> bytes:
        chunk = self._data[self._at : self._at + self._step]
        self._at += len(chunk)
        return chunk


@pytest.mark.parametrize("step", [1, 2, 3, 7, 64, 10_000])
def test_long_lines_are_rejected_and_reading_resumes_at_any_chunking(step: int) -> None:
    limit = 20
    data = (
        b'{"a": "'
        + b"x" * 10
        + b'"}\n'  # 19 bytes: fits
        + b'{"a": "'
        + b"x" * 11
        + b'"}\n'  # 20 bytes: exactly the limit
        + b'{"a": "'
        + b"x" * 12
        + b'"}\n'  # 21 bytes: one too many
        + b"y" * 100
        + b"\n"
        + b"\n"
        + b'{"b": 1}'  # no newline at the end
    )
    got = [
        (p.line, p.error or p.value) for p in read_jsonl(Trickle(data, step), max_line_bytes=limit)
    ]
    assert got == [
        (1, {"a": "x" * 10}),
        (2, {"a": "x" * 11}),
        (3, "longer than 20 bytes"),
        (4, "longer than 20 bytes"),
        (6, {"b": 1}),
    ]


def test_a_long_last_line_without_newline_and_iterables_of_lines() -> None:
    assert [p.error for p in read_jsonl(io.BytesIO(b"1\n" + b"2" * 30), max_line_bytes=10)] == [
        None,
        "longer than 10 bytes",
    ]
    lines = [b'{"x": 1}\n', b"[" * (MAX_LINE_BYTES + 1) + b"\n", b"\xef\xbb\xbf2\n"]
    parsed = list(read_jsonl(lines))
    assert [(p.line, p.value, p.error) for p in parsed] == [
        (1, {"x": 1}, None),
        (2, None, "longer than 9,437,184 bytes"),
        (3, None, "malformed JSON: Unexpected UTF-8 BOM (decode using utf-8-sig) at column 1"),
    ]
    deep = list(read_jsonl([b"[" * 100_000 + b"]" * 100_000 + b"\n"]))
    assert [p.error for p in deep] == ["malformed JSON: nested too deeply"]


def test_check_items_and_check_lines_share_one_set_of_reasons(review_queue: ReviewQueue) -> None:
    raws: list[Any] = [
        {"external_id": "a", "text": "t"},
        {"external_id": "b", "text": "t", "policy": "nope"},
        {"source": "other", "external_id": "c", "url": "ftp://x"},
        [1, 2],
    ]
    valid, rejected = check_items(raws, guidelines=review_queue.guidelines, source="feed")
    assert [(i.source, i.external_id) for i in valid] == [("feed", "a")]
    reasons = [(r.position, r.external_id, r.reason.split(":")[0]) for r in rejected]
    assert reasons == [
        (1, "b", "policy"),
        (2, "c", "url"),
        (3, None, "expected a JSON object, got list"),
    ]
    from_lines = list(
        check_lines(
            io.BytesIO(b"".join(_line(r) for r in raws)),
            guidelines=review_queue.guidelines,
            source="feed",
        )
    )
    assert [c.rejection for c in from_lines if c.rejection] == [
        Rejection(r.position + 1, r.reason, r.external_id) for r in rejected
    ]


def test_strict_keeps_all_or_nothing_with_a_long_line(review_queue: ReviewQueue) -> None:
    good = [_line(make_item(1)), _line(make_item(2))]
    limit = max(len(line) for line in good)
    data = good[0] + b'{"text": "' + b"x" * limit + b'"}\n' + good[1]
    report = ingest_jsonl(review_queue, io.BytesIO(data), strict=True, max_line_bytes=limit)
    assert (report.new, [(r.position, r.reason) for r in report.rejected]) == (
        0,
        [(2, f"longer than {limit:,} bytes")],
    )
    assert _count(review_queue) == 0
    report = ingest_jsonl(review_queue, io.BytesIO(data), max_line_bytes=limit)
    assert report.new == 2 and len(report.rejected) == 1
    assert _count(review_queue) == 2


def _write_huge_line(fd: int, size: int) -> None:
    """Write a good line, a `size`-byte line and another good line into the pipe `fd`,
    1 MiB at a time (the test never holds the long line)."""
    with os.fdopen(fd, "wb") as out:
        try:
            out.write(_line(make_item(1)))
            out.write(b'{"source": "s", "external_id": "huge", "text": "')
            block = b"z" * (1024 * 1024)
            for _ in range(size // len(block)):
                out.write(block)
            out.write(b'"}\n')
            out.write(_line(make_item(2)))
        except BrokenPipeError:
            pass


@pytest.fixture
def huge_line_pipe() -> Iterator[int]:
    """The reading end of a pipe carrying a 1 GiB line between two good ones."""
    read_fd, write_fd = os.pipe()
    writer = threading.Thread(target=_write_huge_line, args=(write_fd, GIB), daemon=True)
    writer.start()
    yield read_fd
    writer.join(timeout=300)


def test_a_1_gib_line_on_stdin_is_rejected_without_being_held(
    database_url: str, huge_line_pipe: int
) -> None:
    """`modqueue ingest -` fed through a pipe: the long line is refused by number, the
    good lines on either side are kept, and the process stays small."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "modqueue.cli", "ingest", "-", "--db", database_url],
        stdin=huge_line_pipe,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    os.close(huge_line_pipe)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 2, err
    assert err.decode() == f"line 2: longer than {MAX_LINE_BYTES:,} bytes\n"
    assert "2 new, 0 merged; 1 rejected" in out.decode()
    with ReviewQueue(database_url) as queue:
        assert _count(queue) == 2


def test_a_1_gib_line_through_the_service(review_queue: ReviewQueue, huge_line_pipe: int) -> None:
    with os.fdopen(huge_line_pipe, "rb", buffering=0) as stream:
        report = ingest_jsonl(review_queue, stream)
    assert report.new == 2
    assert [(r.position, r.reason) for r in report.rejected] == [
        (2, f"longer than {MAX_LINE_BYTES:,} bytes")
    ]


def test_lines_from_a_pipe_are_read_as_they_arrive() -> None:
    """A pipe fed line by line (`tail -f ... | modqueue ingest -`) is not held back until
    a whole chunk has arrived."""
    read_fd, write_fd = os.pipe()
    lines = read_jsonl(os.fdopen(read_fd, "rb"))
    first: list[Any] = []
    seen = threading.Event()

    def read_first() -> None:
        first.append(next(lines).value)
        seen.set()

    threading.Thread(target=read_first, daemon=True).start()
    os.write(write_fd, b'{"n": 1}\n')
    arrived = seen.wait(60)  # a guard against a hang, not a timing
    os.write(write_fd, b'{"n": 2}\n')
    os.close(write_fd)
    assert arrived, "the first line waited for more input"
    assert [*first, *(p.value for p in lines)] == [{"n": 1}, {"n": 2}]
