"""Core commands: init, schema, ingest, stats, claim, decide, demo."""

from __future__ import annotations

import importlib
import json
import sys
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
from modqueue.queue import IngestReport, Rejection, ReviewQueue, item_json_schema, read_jsonl
from modqueue.queue._db import make_engine, migrate
from modqueue.queue._grants import grant_app_role
from modqueue.queue._items import validation_reason
from modqueue.settings import load_settings

DEMO_DB = "sqlite:///modqueue-demo.db"
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
    score: Annotated[
        bool, typer.Option("--score", help="Score new items with the active models afterwards.")
    ] = False,
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
        if score:
            from modqueue.learning import prescore_pending

            scored = prescore_pending(queue, config=open_config(None).models)
            for warning in scored.warnings:
                typer.echo(f"warning: {warning}", err=True)
            typer.echo(f"scored {scored.total} new item(s) with the active models", err=True)
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


def _print_stats(stats: dict[str, Any]) -> None:
    typer.echo(
        f"pending {stats['pending']} · claimed {stats['claimed']} · decided {stats['decided']}"
        f" · escalated {stats['escalated']} · past deadline {stats['past_deadline']}"
    )
    if stats["by_queue"]:
        typer.echo(
            f"{'queue':<32}{'pending':>9}{'claimed':>9}{'decided':>9}{'late':>6}{'oldest':>9}"
        )
    for name, q in stats["by_queue"].items():
        oldest = q["oldest_pending_seconds"]
        age = "-" if oldest is None else f"{oldest / 3600:.1f}h"
        typer.echo(
            f"{name:<32}{q['pending']:>9}{q['claimed']:>9}{q['decided']:>9}"
            f"{q['past_deadline']:>6}{age:>9}"
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


def load_demo(db: str) -> ReviewQueue:
    """A queue on `db` filled (idempotently) with the bundled sample items."""
    queue = open_queue(db)
    data = resources.files("modqueue").joinpath("data/sample_items.jsonl")
    with data.open("rb") as stream:
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
