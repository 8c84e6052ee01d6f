"""Core commands: init, schema, ingest, stats, claim, decide, demo."""

from __future__ import annotations

import importlib
import io
import json
import sys
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import IO, Annotated, Any

import typer

from modqueue.commands._common import (
    ConfigOption,
    DbOption,
    GuidelinesOption,
    JsonOption,
    ReviewerOption,
    echo_json,
    fail,
    open_config,
    open_queue,
)
from modqueue.commands._identity import TokenOption, acting_reviewer
from modqueue.queue import (
    IngestReport,
    Rejection,
    ReviewQueue,
    grant_app_role,
    item_json_schema,
    make_engine,
    migrate,
    read_jsonl,
    validation_reason,
)
from modqueue.settings import load_settings

DEMO_DB = "sqlite:///modqueue-demo.db"
SAMPLE_AS_OF = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
"""When the bundled sample items' `flagged_at` times stood as the demo shows them."""
CHUNK = 5000


def init(
    db: DbOption = None,
    app_role: Annotated[
        str | None,
        typer.Option(
            "--app-role",
            help="PostgreSQL: grant this existing role what modqueue needs, but no UPDATE, "
            "DELETE or TRUNCATE on the audit log (run as the schema owner).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Create or migrate the database (idempotent)."""
    settings = load_settings(database_url=db)
    engine = make_engine(settings.database_url)
    try:
        migrate(engine)
        if app_role is not None:
            for statement in grant_app_role(engine, app_role):
                typer.echo(statement)
    finally:
        engine.dispose()
    typer.echo(f"database ready: {_safe_url(settings.database_url)}")


def schema() -> None:
    """Print the JSON Schema of one ingest line."""
    echo_json(item_json_schema())


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def ingest_stream(
    queue: ReviewQueue, stream: IO[bytes], *, strict: bool, actor: str = "ingest"
) -> IngestReport:
    """Ingest JSON Lines from `stream`; rejections carry line numbers."""
    total = IngestReport()
    parse_errors = []
    values: list[Any] = []
    lines: list[int] = []

    def flush(*, strict_flush: bool) -> None:
        report = queue.enqueue(values, positions=lines, strict=strict_flush, actor=actor)
        total.new += report.new
        total.merged += report.merged
        total.rejected.extend(report.rejected)
        values.clear()
        lines.clear()

    for parsed in read_jsonl(stream):
        if parsed.error is not None:
            parse_errors.append((parsed.line, parsed.error))
            continue
        values.append(parsed.value)
        lines.append(parsed.line)
        if not strict and len(values) >= CHUNK:
            flush(strict_flush=False)
    if strict and parse_errors:
        # Store nothing, but report every problem at once.
        for value, line in zip(values, lines, strict=True):
            reason = validation_reason(value)[1]
            if reason is not None:
                total.rejected.append(Rejection(line, reason))
    elif values:
        flush(strict_flush=strict)
    total.rejected.extend(Rejection(line, reason) for line, reason in parse_errors)
    total.rejected.sort(key=lambda r: r.position)
    return total


def ingest(
    file: Annotated[str, typer.Argument(metavar="FILE|-", help="JSON Lines file, or - for stdin.")],
    db: DbOption = None,
    guidelines: GuidelinesOption = None,
    strict: Annotated[bool, typer.Option("--strict", help="Accept all lines or none.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Add flagged items, one JSON object per line; rejected lines are printed as
    `line N: reason` and the exit code is 2."""
    queue = open_queue(db, guidelines)
    try:
        if file == "-":
            report = ingest_stream(queue, sys.stdin.buffer, strict=strict)
        else:
            path = Path(file)
            if not path.is_file():
                raise fail(f"{file}: no such file", code=1)
            with path.open("rb") as stream:
                report = ingest_stream(queue, stream, strict=strict)
    finally:
        queue.close()
    for r in report.rejected:
        typer.echo(f"line {r.position}: {r.reason}", err=True)
    if as_json:
        echo_json(report.to_dict())
    else:
        stored = (
            "nothing stored (--strict)"
            if strict and report.rejected
            else (f"{report.new} new, {report.merged} merged")
        )
        typer.echo(f"{stored}; {len(report.rejected)} rejected")
    if report.rejected:
        raise typer.Exit(2)


def _hours(seconds: int | None) -> str:
    return "-" if seconds is None else f"{seconds / 3600:.1f}h"


def _print_stats(stats: dict[str, Any]) -> None:
    typer.echo(
        f"pending {stats['pending']} · claimed {stats['claimed']} · decided {stats['decided']}"
        f" · escalated {stats['escalated']} · past deadline {stats['past_deadline']}"
    )
    if stats["by_queue"]:
        # Each column names its clock: deadlines run from the flag, waiting from ingest.
        typer.echo(
            f"{'queue':<32}{'pending':>9}{'claimed':>9}{'decided':>9}{'past deadline':>15}"
            f"{'oldest flag':>13}{'waiting since ingest':>22}"
        )
    for name, q in stats["by_queue"].items():
        typer.echo(
            f"{name:<32}{q['pending']:>9}{q['claimed']:>9}{q['decided']:>9}"
            f"{q['past_deadline']:>15}{_hours(q['oldest_flagged_seconds']):>13}"
            f"{_hours(q['oldest_pending_seconds']):>22}"
        )
    actions = {k: v for k, v in stats["actions"].items() if v}
    if actions:
        typer.echo("actions: " + ", ".join(f"{k} {v}" for k, v in actions.items()))


def stats(db: DbOption = None, as_json: JsonOption = False) -> None:
    """Queue health: pending, claimed, decided, escalated, per queue."""
    with open_queue(db) as queue:
        data = queue.stats()
    if data["access"]["warning"]:
        typer.echo(f"warning: {data['access']['warning']}", err=True)
    if as_json:
        echo_json(data)
    else:
        _print_stats(data)


def claim(
    reviewer: ReviewerOption,
    queue_name: Annotated[
        list[str] | None, typer.Option("--queue", help="Queue to claim from (repeatable).")
    ] = None,
    token: TokenOption = None,
    db: DbOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Claim the next item for a reviewer (exit 3 when the queue is empty)."""
    with open_queue(db) as queue:
        reviewer = acting_reviewer(queue, reviewer, token, config)
        got = queue.claim_next(reviewer, queue_name or None)
    if got is None:
        if as_json:
            echo_json(None)
        else:
            typer.echo("queue empty", err=True)
        raise typer.Exit(3)
    if as_json:
        echo_json(got.to_dict())
        return
    item = got.item
    typer.echo(f"item {got.item_id} in {got.queue} (priority {got.priority:.1f})")
    typer.echo(f"lease until {got.lease_expires_at.isoformat()}")
    typer.echo(json.dumps(item.text or item.url or "", ensure_ascii=False)[:400])


def decide(
    item_id: Annotated[int, typer.Argument(metavar="ITEM_ID")],
    reviewer: ReviewerOption,
    label: Annotated[str, typer.Option("--label", help="Label id from the guideline.")],
    note: Annotated[str, typer.Option("--note", help="Private note (never sent out).")] = "",
    token: TokenOption = None,
    db: DbOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Decide an item (claiming it first if it is pending)."""
    with open_queue(db, config=open_config(config)) as queue:
        reviewer = acting_reviewer(queue, reviewer, token, config)
        got = queue.claim(item_id, reviewer)
        decision = queue.decide(got, label, note, origin="cli")
    if as_json:
        echo_json(decision.model_dump(mode="json"))
    else:
        typer.echo(f"item {item_id}: {decision.label} ({decision.action}) by {reviewer}")


def sample_items_at(now: datetime) -> bytes:
    """The bundled sample items as JSON Lines, each flagged as long before `now` as it
    was before `SAMPLE_AS_OF`: a live desk, a few items near their deadline, none past.
    """
    data = resources.files("modqueue").joinpath("data/sample_items.jsonl").read_bytes()
    shift = now - SAMPLE_AS_OF
    lines = []
    for line in data.splitlines():
        item = json.loads(line)
        flagged = datetime.fromisoformat(item["flagged_at"]) + shift
        item["flagged_at"] = flagged.astimezone(UTC).isoformat().replace("+00:00", "Z")
        lines.append(json.dumps(item, ensure_ascii=False))
    return ("\n".join(lines) + "\n").encode()


def load_demo(db: str) -> ReviewQueue:
    """A queue on `db` filled (idempotently) with the bundled sample items, flagged
    relative to now (`sample_items_at`); a later run keeps the times of items it has."""
    queue = open_queue(db)
    stream = io.BytesIO(sample_items_at(queue.clock()))
    report = ingest_stream(queue, stream, strict=False, actor="demo")
    if report.rejected:
        queue.close()
        raise fail(f"bundled sample items rejected: {report.rejected[:3]}")
    return queue


def demo(
    db: DbOption = None,
    headless: Annotated[
        bool, typer.Option("--headless", help="Print the queue's state instead of the UI.")
    ] = False,
    reviewer: Annotated[str, typer.Option("--reviewer", help="Reviewer id.")] = "demo-reviewer",
    token: TokenOption = None,
) -> None:
    """The main job on the embedded default: a SQLite file in this folder, filled with
    the bundled sample items, opened in the reviewer UI. The demo database is in open
    mode (no token needed); on a database with reviewers the reviewer is verified like
    `modqueue review`'s."""
    url = db or DEMO_DB
    queue = load_demo(url)
    try:
        if not headless:
            reviewer = acting_reviewer(queue, reviewer, token, None)
        if headless:
            typer.echo(f"demo database: {_safe_url(url)}")
            _print_stats(queue.stats())
            return
        try:
            tui = importlib.import_module("modqueue.tui")
        except ImportError:
            typer.echo("terminal UI not available; showing the queue instead", err=True)
            _print_stats(queue.stats())
            return
        tui.run_review_app(
            queue=queue, reviewer=reviewer, queues=None, config=open_config(None).tui
        )
    finally:
        queue.close()
