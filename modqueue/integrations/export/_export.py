"""`export_dataset`: decided items to train/validation/test files and a dataset card."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlmodel import Session

from modqueue._exceptions import ConfigError
from modqueue.integrations.export._card import CardStats, render_card
from modqueue.integrations.export._parallel import write_jsonl_fast
from modqueue.integrations.export._privacy import Pseudonymiser, export_key
from modqueue.integrations.export._records import iter_records
from modqueue.integrations.export._writers import FORMATS, JsonlWriter, open_writer
from modqueue.queue import SyncCursor, read_connection, read_session

__all__ = ["CURSOR_PREFIX", "ExportReport", "export_dataset", "read_cursor"]

CURSOR_PREFIX = "export:"


@dataclass
class ExportReport:
    """What an export wrote: folder, format, files, counts and the window it covered."""

    out: Path
    format: str
    files: list[Path]
    since: datetime | None
    cursor: str | None
    started_at: datetime
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def records(self) -> int:
        """Records written."""
        return int(self.stats.get("records", 0))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "out": str(self.out),
            "format": self.format,
            "files": [str(f) for f in self.files],
            "since": self.since.isoformat() if self.since else None,
            "cursor": self.cursor,
            "started_at": self.started_at.isoformat(),
            **self.stats,
        }


def read_cursor(engine: Engine, name: str) -> datetime | None:
    """Where the named export cursor stands (None before its first export)."""
    with read_session(engine) as session:
        row = session.scalars(
            select(SyncCursor).where(SyncCursor.name == CURSOR_PREFIX + name)  # type: ignore[arg-type]
        ).one_or_none()
        return datetime.fromisoformat(row.value) if row else None


def _save_cursor(engine: Engine, name: str, at: datetime) -> None:
    with Session(engine) as session, session.begin():
        row = session.get(SyncCursor, CURSOR_PREFIX + name, with_for_update=True)
        if row is None:
            session.add(SyncCursor(name=CURSOR_PREFIX + name, value=at.isoformat(), updated_at=at))
        else:
            row.value, row.updated_at = at.isoformat(), at


def export_dataset(
    engine: Engine,
    *,
    out: Path,
    now: datetime,
    fmt: str = "jsonl",
    policy: str | None = None,
    since: datetime | None = None,
    cursor: str | None = None,
    batch: int = 2000,
    read_engine: Engine | None = None,
    fast: bool = True,
    workers: int | None = None,
) -> ExportReport:
    """Write every decided item (changed after `since` or the named `cursor`, if given) to
    `out/{train,validation,test}.{jsonl,parquet}` and `out/README.md`.

    Streams in constant memory. With `cursor`, only items changed since that cursor's
    last export are written and the cursor moves to `now` (the export's start) once the
    files are in place; without it nothing is stored. The records are read from
    `read_engine` (a read replica, `ReviewQueue.read_engine`) when given; the cursor and
    the export key stay on `engine`.

    JSON Lines go through the fast path (`_lines.write_jsonl`: rows read through the
    driver, records encoded as strings); `fast=False` takes the general path
    (`iter_records` and the writer's JSON encoder), which writes the same bytes.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"--format: unknown export format {fmt!r} (use jsonl or parquet)")
    if since is not None and since.tzinfo is None:
        raise ConfigError("--since: give a time zone (e.g. 2026-11-24T00:00:00Z)")
    if cursor is not None and not cursor.strip():
        raise ConfigError("--cursor: the cursor name is empty")
    window = since
    if cursor:
        at = read_cursor(engine, cursor)
        if at is not None and (window is None or at > window):
            window = at
    out.mkdir(parents=True, exist_ok=True)
    names = Pseudonymiser(export_key(engine))
    writer = open_writer(fmt, out)
    stats = CardStats()
    try:
        # Read-only: on SQLite a long export takes no writers' lock, so reviewers keep
        # deciding while it runs (it reads one snapshot).
        with read_connection(read_engine or engine) as conn:
            if fast and isinstance(writer, JsonlWriter):
                write_jsonl_fast(
                    conn,
                    names,
                    writer,
                    stats,
                    policy=policy,
                    since=window,
                    batch=batch,
                    workers=workers,
                )
            else:
                for record, labels in iter_records(
                    conn, names, policy=policy, since=window, batch=batch
                ):
                    writer.write(record["split"], record)
                    stats.add(record, labels)
    except BaseException:
        writer.abort()
        raise
    writer.commit()
    card = out / "README.md"
    card.write_text(
        render_card(
            stats,
            fmt=fmt,
            exported_at=now,
            filters={
                "policy": policy,
                "since": window.isoformat() if window else None,
                "cursor": cursor,
            },
        ),
        encoding="utf-8",
    )
    if cursor:
        _save_cursor(engine, cursor, now)
    return ExportReport(
        out=out,
        format=fmt,
        files=[*writer.files.values(), card],
        since=window,
        cursor=cursor,
        started_at=now,
        stats=stats.to_dict(),
    )
