"""The one ingest loop: read JSON Lines in bounded chunks, parse, validate, store.

The CLI (`modqueue ingest`), the HTTP feed sources and the drop folders all go through
here, so an item is accepted or rejected for the same reasons, with the same words,
whichever way it came in.

- `read_jsonl(stream)` splits a binary stream into lines in chunks of `CHUNK_BYTES`. A
  line longer than `max_line_bytes` (default `MAX_LINE_BYTES`: the item limit plus its
  envelope) is rejected as `longer than X bytes` without ever being held in memory, and
  reading resumes at the next line.
- `check_item`/`check_items` validate decoded values (an item without `source` can be
  given a default one; an unknown policy is refused).
- `check_lines(stream)` does both, line by line.
- `ingest_jsonl(queue, stream)` stores what `check_lines` accepts, in batches each
  committed as it goes, or (`strict=True`) all or nothing; `ingest_values(queue, values)`
  does the same for decoded values (`ReviewQueue.enqueue`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from modqueue.guidelines import GuidelineSet
from modqueue.queue._core.flood_config import FloodsConfig
from modqueue.queue._core.gc_pause import GcPause
from modqueue.queue._core.referrals import TrustedFlagger
from modqueue.queue._items.ingest import IngestReport, Rejection, ingest_batch
from modqueue.queue._items.schema import (
    MAX_TEXT_BYTES,
    ItemIn,
    item_from_line,
    validation_reason,
)

if TYPE_CHECKING:
    from datetime import datetime

    from sqlmodel import Session


class ReviewQueue(Protocol):
    """What the ingest service needs of `modqueue.queue.ReviewQueue` (a protocol, so this
    layer does not import the one above it)."""

    guidelines: GuidelineSet
    floods: FloodsConfig

    @property
    def flaggers(self) -> Mapping[str, TrustedFlagger]: ...

    def clock(self) -> datetime: ...

    def run(self, work: Callable[[Session], T], *, attempts: int = ...) -> T: ...


T = TypeVar("T")

__all__ = [
    "CHUNK_BYTES",
    "ENVELOPE_BYTES",
    "MAX_LINE_BYTES",
    "CheckedLine",
    "ParsedLine",
    "Readable",
    "check_item",
    "check_items",
    "check_lines",
    "ingest_jsonl",
    "ingest_values",
    "parse_json",
    "read_jsonl",
]

ENVELOPE_BYTES = 1024 * 1024
"""Room on a line for everything around `text` (ids, signals, media, escapes): 1 MiB."""

MAX_LINE_BYTES = MAX_TEXT_BYTES + ENVELOPE_BYTES
"""Longest accepted JSON Lines line, in bytes (9 MiB): the item limit plus its envelope."""

CHUNK_BYTES = 64 * 1024
"""How much of a stream is read at a time."""

_BOM = b"\xef\xbb\xbf"


class Readable(Protocol):
    """A binary stream: anything with `read(n) -> bytes` (a file, `sys.stdin.buffer`)."""

    def read(self, n: int = -1, /) -> bytes: ...


Lines = Readable | Iterable[bytes]


def parse_json(text: str | bytes) -> Any:
    """Decode one JSON document; `ValueError("malformed JSON: ...")` for anything that is
    not JSON, including JSON nested too deeply to decode."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"malformed JSON: {exc.msg} at column {exc.colno}") from None
    except RecursionError:
        raise ValueError("malformed JSON: nested too deeply") from None


def _chunks(stream: Lines) -> Iterator[bytes]:
    if isinstance(stream, Iterable) and not hasattr(stream, "read"):
        yield from stream
        return
    # `read1` returns what has arrived (a pipe fed line by line is not held back until
    # a whole chunk is there); plain `read` for streams without it.
    read = getattr(stream, "read1", None) or stream.read
    while chunk := read(CHUNK_BYTES):
        yield chunk


def _split_lines(stream: Lines, max_line_bytes: int) -> Iterator[tuple[int, bytes | None]]:
    """`(line number, raw line)` for every line, or `(number, None)` for a line longer
    than `max_line_bytes` (newline excluded), whose bytes are dropped as they arrive."""
    number = 0
    parts: list[bytes] = []
    size = 0
    skipping = False
    for chunk in _chunks(stream):
        pieces = chunk.split(b"\n")
        for index, piece in enumerate(pieces):
            last = index == len(pieces) - 1
            if not skipping:
                size += len(piece)
                if size > max_line_bytes:
                    skipping = True
                    parts.clear()
                elif piece:
                    parts.append(piece)
            if last:
                continue  # the line goes on in the next chunk
            number += 1
            yield number, None if skipping else b"".join(parts)
            parts.clear()
            size = 0
            skipping = False
    if skipping or parts:
        yield number + 1, None if skipping else b"".join(parts)


@dataclass(frozen=True, slots=True)
class ParsedLine:
    """One non-blank line of a JSON Lines input: its decoded value or why it failed."""

    line: int
    value: Any = None
    error: str | None = None


def read_jsonl(stream: Lines, *, max_line_bytes: int = MAX_LINE_BYTES) -> Iterator[ParsedLine]:
    """Read JSON Lines from a binary stream, one `ParsedLine` per non-blank line.

    The stream is read `CHUNK_BYTES` at a time, so memory stays bounded by the longest
    accepted line. A UTF-8 byte-order mark on the first line is dropped. A line longer
    than `max_line_bytes`, invalid UTF-8 and malformed JSON (also JSON nested too
    deeply) become errors naming the line; reading goes on with the next line.
    """
    for parsed, _ in _read_lines(stream, max_line_bytes):
        yield parsed


def _read_lines(stream: Lines, max_line_bytes: int) -> Iterator[tuple[ParsedLine, bytes | None]]:
    """`read_jsonl`, each parsed line with its text when it decoded."""
    for number, raw in _split_lines(stream, max_line_bytes):
        parsed = _parse_line(number, raw, max_line_bytes)
        if parsed is not None:
            yield parsed


def _line_text(number: int, raw: bytes) -> bytes:
    """The JSON text of line `number` (a UTF-8 byte-order mark on the first dropped)."""
    return raw[3:] if number == 1 and raw.startswith(_BOM) else raw


def _parse_line(
    number: int, raw: bytes | None, max_line_bytes: int
) -> tuple[ParsedLine, bytes | None] | None:
    """One line of `_read_lines` (None: a blank line)."""
    if raw is None:
        return ParsedLine(number, error=f"longer than {max_line_bytes:,} bytes"), None
    raw = _line_text(number, raw)
    if not raw.strip():
        return None
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return ParsedLine(number, error=f"invalid UTF-8 at byte {exc.start + 1}"), None
    try:
        value = parse_json(decoded)
    except ValueError as exc:
        return ParsedLine(number, error=str(exc)), None
    return ParsedLine(number, value=value), raw


def check_item(
    raw: Any, *, guidelines: GuidelineSet, source: str | None = None, line: bytes | None = None
) -> tuple[ItemIn | None, str | None]:
    """Validate one decoded value as an item under `guidelines`: `(item, None)` or
    `(None, reason)`. A dict without `source` gets `source` when one is given. `line`: the
    JSON text `raw` was decoded from, when there is one (spares a search of the value)."""
    if source is not None and isinstance(raw, dict) and "source" not in raw:
        raw = {**raw, "source": source}
    item, reason = validation_reason(raw, line=line)
    if item is not None and item.policy and item.policy not in guidelines:
        known = ", ".join(guidelines.ids)
        return None, f"policy: unknown policy {item.policy!r} (known: {known})"
    return item, reason


def _rejection(raw: Any, position: int, reason: str | None) -> Rejection:
    ext = raw.get("external_id") if isinstance(raw, dict) else None
    return Rejection(position, reason or "invalid", ext if isinstance(ext, str) else None)


def check_items(
    raws: Iterable[Any],
    *,
    guidelines: GuidelineSet,
    source: str | None = None,
    positions: Sequence[int] | None = None,
) -> tuple[list[ItemIn], list[Rejection]]:
    """Validate decoded values (`check_item` for each): `(valid, rejections)`.

    A rejection's `position` is the value's index, or `positions[index]` when given.
    """
    valid: list[ItemIn] = []
    rejected: list[Rejection] = []
    for index, raw in enumerate(raws):
        item, reason = check_item(raw, guidelines=guidelines, source=source)
        if item is None:
            position = positions[index] if positions is not None else index
            rejected.append(_rejection(raw, position, reason))
        else:
            valid.append(item)
    return valid, rejected


@dataclass(frozen=True, slots=True)
class CheckedLine:
    """One non-blank line, checked: the valid `item`, or the `rejection` saying why not."""

    line: int
    item: ItemIn | None = None
    rejection: Rejection | None = None


def check_lines(
    stream: Lines,
    *,
    guidelines: GuidelineSet,
    source: str | None = None,
    max_line_bytes: int = MAX_LINE_BYTES,
) -> Iterator[CheckedLine]:
    """Read (`read_jsonl`) and validate (`check_item`) JSON Lines, one `CheckedLine` per
    non-blank line; a rejection's position is its line number.

    A line that is a valid item (and has its `source`, or no default is given) is
    validated straight from its text (`item_from_line`: one pass, no decoded value); any
    other line takes the general path, which gives the same item or says why not."""
    for number, raw in _split_lines(stream, max_line_bytes):
        if raw is not None and source is None:
            item = item_from_line(_line_text(number, raw))
            if item is not None and (not item.policy or item.policy in guidelines):
                yield CheckedLine(number, item=item)
                continue
        checked = _parse_line(number, raw, max_line_bytes)
        if checked is None:
            continue
        parsed, text = checked
        if parsed.error is not None:
            yield CheckedLine(parsed.line, rejection=Rejection(parsed.line, parsed.error))
            continue
        item, reason = check_item(parsed.value, guidelines=guidelines, source=source, line=text)
        if item is None:
            yield CheckedLine(parsed.line, rejection=_rejection(parsed.value, parsed.line, reason))
        else:
            yield CheckedLine(parsed.line, item=item)


def _store(
    queue: ReviewQueue,
    checked: Iterable[ItemIn | Rejection],
    *,
    strict: bool,
    actor: str,
    batch_size: int,
    bulk: bool = True,
    fingerprint: bool = True,
) -> IngestReport:
    """Store checked items in batches (each its own transaction), or with `strict` all
    of them only if nothing was rejected; every rejection goes into the report.

    Automatic garbage collection is paused while a batch is read and stored (`GcPause`)
    and resumed after it, so it runs once per batch instead of over and over on the
    batch's live objects."""
    report = IngestReport()
    batch: list[ItemIn] = []
    collector = GcPause()

    def flush() -> None:
        chunk = list(batch)
        batch.clear()
        new, merged = queue.run(
            lambda s: ingest_batch(
                s,
                items=chunk,
                guidelines=queue.guidelines,
                now=queue.clock(),
                actor=actor,
                flaggers=queue.flaggers,
                floods=queue.floods,
                bulk=bulk,
                fingerprint=fingerprint,
            )
        )
        report.new += new
        report.merged += merged

    kept: list[ItemIn] = []
    read = 0
    try:
        for one in checked:
            collector.pause()
            read += 1
            if isinstance(one, Rejection):
                report.rejected.append(one)
            elif strict:
                if not report.rejected:
                    kept.append(one)
            else:
                batch.append(one)
                if len(batch) >= batch_size:
                    flush()
                    collector.resume()
            if strict and read % batch_size == 0:
                collector.resume()
        if strict and not report.rejected:
            for start in range(0, len(kept), batch_size):
                collector.pause()
                batch.extend(kept[start : start + batch_size])
                flush()
                collector.resume()
        elif batch:
            flush()
    finally:
        collector.resume()
    return report


def ingest_values(
    queue: ReviewQueue,
    values: Iterable[Any],
    *,
    strict: bool = False,
    actor: str = "ingest",
    batch_size: int = 1000,
    positions: Sequence[int] | None = None,
    fingerprint: bool = True,
) -> IngestReport:
    """Ingest decoded values (dicts in the ingest format) into `queue`, as
    `ReviewQueue.enqueue` does: valid items stored in batches of `batch_size`, each
    committed as it goes, or (`strict=True`) nothing unless every item is valid. A
    rejection's position is the value's index, or `positions[index]` when given.
    `fingerprint=False` skips fingerprinting and clustering (benchmarks)."""

    def checked() -> Iterator[ItemIn | Rejection]:
        for index, raw in enumerate(values):
            item, reason = check_item(raw, guidelines=queue.guidelines)
            if item is not None:
                yield item
            else:
                yield _rejection(raw, positions[index] if positions is not None else index, reason)

    return _store(
        queue,
        checked(),
        strict=strict,
        actor=actor,
        batch_size=batch_size,
        fingerprint=fingerprint,
    )


def ingest_jsonl(
    queue: ReviewQueue,
    stream: Lines,
    *,
    strict: bool = False,
    actor: str = "ingest",
    source: str | None = None,
    batch_size: int = 5000,
    max_line_bytes: int = MAX_LINE_BYTES,
    bulk: bool = True,
    fingerprint: bool = True,
) -> IngestReport:
    """Ingest JSON Lines from `stream` into `queue`; rejections carry line numbers.

    Valid lines are stored in batches of `batch_size`, each committed as it goes, so a
    bad line never loses good ones and memory stays bounded. With `strict=True` nothing
    is stored unless every line is valid (every problem is still reported).
    `bulk=False` stores them by the general path instead of the bulk store, and
    `fingerprint=False` skips fingerprinting and clustering (`ingest_batch`; benchmarks).
    """

    def checked() -> Iterator[ItemIn | Rejection]:
        lines = check_lines(
            stream, guidelines=queue.guidelines, source=source, max_line_bytes=max_line_bytes
        )
        for line in lines:
            one = line.item or line.rejection
            assert one is not None
            yield one

    return _store(
        queue,
        checked(),
        strict=strict,
        actor=actor,
        batch_size=batch_size,
        bulk=bulk,
        fingerprint=fingerprint,
    )
