"""Split files written as records arrive: JSON Lines, or Parquet in row-group batches.

Each split goes to `<split>.<ext>.partial` and is renamed into place only when the whole
export succeeded, so a failed export never leaves a half-written dataset behind.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Protocol

from modqueue.queue import SPLITS

__all__ = ["FORMATS", "JsonlWriter", "ParquetWriter", "SplitWriter", "open_writer"]

FORMATS = ("jsonl", "parquet")
BUFFER = 1 << 20
"""Bytes each split file buffers before it writes."""
HOLD = 5000
"""Records a JSON Lines split holds back at most (see `JsonlWriter`)."""


class SplitWriter(Protocol):
    """Writes records into per-split files."""

    files: dict[str, Path]

    def write(self, split: str, record: dict[str, Any]) -> None: ...

    def commit(self) -> None: ...

    def abort(self) -> None: ...


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


class _PartialFiles:
    def __init__(self, out: Path, ext: str) -> None:
        self.files = {split: out / f"{split}.{ext}" for split in SPLITS}
        self.partial = {s: p.with_name(p.name + ".partial") for s, p in self.files.items()}

    def _rename(self) -> None:
        for split, path in self.partial.items():
            path.replace(self.files[split])

    def _remove(self) -> None:
        for path in self.partial.values():
            path.unlink(missing_ok=True)


class JsonlWriter(_PartialFiles):
    """One JSON object per line, UTF-8, datetimes as ISO 8601.

    JSON readers that infer a schema from the first rows (pyarrow, `datasets`) need a
    non-empty `media` list and a non-null `agreement` early in the file: records are
    held back (at most `hold` per split) until both have been seen, then written with
    those first. Order within a split carries no meaning.

    `write` takes a record; `write_line` takes one already encoded (the fast path of
    `modqueue.integrations.export`, `_lines`), with whether it has media and agreement.
    Both end in the same bytes.
    """

    def __init__(self, out: Path, *, hold: int | None = None) -> None:
        super().__init__(out, "jsonl")
        self.hold = HOLD if hold is None else hold
        """Records held back per split at most."""
        self._held: dict[str, list[tuple[str, bool]]] = {s: [] for s in SPLITS}
        self._seen: dict[str, set[str]] = {s: set() for s in SPLITS}
        self._streams: dict[str, IO[str]] = {
            s: p.open("w", encoding="utf-8", newline="\n", buffering=BUFFER)
            for s, p in self.partial.items()
        }
        self._writes = {s: f.write for s, f in self._streams.items()}
        self._encode = json.JSONEncoder(
            ensure_ascii=False, separators=(",", ":"), default=_json_default
        ).encode

    def _release(self, split: str) -> None:
        held = self._held[split]
        held.sort(key=lambda line: not line[1])
        self._writes[split]("".join(line for line, _ in held))
        held.clear()
        self._seen[split] = {"media", "agreement"}

    def write(self, split: str, record: dict[str, Any]) -> None:
        """Append `record` to `split`."""
        self.write_line(
            split,
            self._encode(record) + "\n",
            media=bool(record["media"]),
            agreement=record["agreement"] is not None,
        )

    def write_line(self, split: str, line: str, *, media: bool, agreement: bool) -> None:
        """Append one encoded record (`line`, newline included) to `split`: `media`
        when its `media` list is not empty, `agreement` when its agreement is not null."""
        seen = self._seen[split]
        if len(seen) == 2:
            self._writes[split](line)
            return
        held = self._held[split]
        held.append((line, media or agreement))
        if media:
            seen.add("media")
        if agreement:
            seen.add("agreement")
        if len(seen) == 2 or len(held) >= self.hold:
            self._release(split)

    def holding(self, split: str) -> bool:
        """Whether `split` still holds records back (see the class docstring)."""
        return len(self._seen[split]) < 2

    def write_text(self, split: str, lines: str) -> None:
        """Append encoded records (`lines`, each ending in a newline) to `split`, which
        holds nothing back any more (`holding` is false)."""
        if lines:
            if self.holding(split):
                raise ValueError(f"{split}: records are still held back; use write_line")
            self._writes[split](lines)

    def _close(self) -> None:
        for stream in self._streams.values():
            stream.close()

    def commit(self) -> None:
        """Write what is held back, close the files and move them into place."""
        for split in SPLITS:
            self._release(split)
        self._close()
        self._rename()

    def abort(self) -> None:
        """Close and delete the partial files."""
        self._close()
        self._remove()


class ParquetWriter(_PartialFiles):
    """Parquet with a fixed schema, one row group per `row_group_rows` records."""

    def __init__(self, out: Path, *, row_group_rows: int = 10_000) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        super().__init__(out, "parquet")
        self._pa = pa
        timestamp = pa.timestamp("us", tz="UTC")
        annotation = pa.struct(
            [
                ("annotator", pa.string()),
                ("label", pa.string()),
                ("source", pa.string()),
                ("seconds", pa.float64()),
                ("second_review", pa.bool_()),
                ("kind", pa.string()),
                ("decided_at", timestamp),
            ]
        )
        self.schema = pa.schema(
            [
                ("id", pa.string()),
                ("source", pa.string()),
                ("text", pa.string()),
                ("url", pa.string()),
                ("media", pa.list_(pa.struct([("kind", pa.string()), ("url", pa.string())]))),
                ("author", pa.string()),
                ("policy", pa.string()),
                ("label", pa.string()),
                ("action", pa.string()),
                ("annotations", pa.list_(annotation)),
                ("agreement", pa.float64()),
                ("guideline_id", pa.string()),
                ("guideline_version", pa.string()),
                ("decided_at", timestamp),
                ("appeal", pa.string()),
                ("split", pa.string()),
                ("automated", pa.bool_()),
            ]
        )
        self._rows = row_group_rows
        self._buffers: dict[str, list[dict[str, Any]]] = {s: [] for s in SPLITS}
        self._writers = {
            s: pq.ParquetWriter(str(p), self.schema, compression="zstd")
            for s, p in self.partial.items()
        }

    def _flush(self, split: str) -> None:
        rows = self._buffers[split]
        if rows:
            table = self._pa.Table.from_pylist(rows, schema=self.schema)
            self._writers[split].write_table(table)
            rows.clear()

    def write(self, split: str, record: dict[str, Any]) -> None:
        """Buffer `record`; a full buffer becomes a row group."""
        buffer = self._buffers[split]
        buffer.append(record)
        if len(buffer) >= self._rows:
            self._flush(split)

    def commit(self) -> None:
        """Write the last row groups, close the files and move them into place."""
        for split in SPLITS:
            self._flush(split)
            self._writers[split].close()
        self._rename()

    def abort(self) -> None:
        """Close and delete the partial files."""
        for writer in self._writers.values():
            writer.close()
        self._remove()


def open_writer(fmt: str, out: Path) -> SplitWriter:
    """A writer for `fmt` (`jsonl` or `parquet`) into folder `out`."""
    if fmt == "jsonl":
        return JsonlWriter(out)
    if fmt == "parquet":
        return ParquetWriter(out)
    raise ValueError(f"unknown export format {fmt!r} (use {' or '.join(FORMATS)})")
