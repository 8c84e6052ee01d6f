"""Core commands: init, schema, ingest, stats, claim, decide, demo.

Once reviewers are registered, `ingest`, `stats`, `claim` and `decide` act as the verified
`--reviewer` (token or operating-system user) with the role the service checks; `init`
needs only the database's owner (it runs before any reviewer can be read)."""

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

from modqueue.commands._common import Invocation, echo_json, fail, open_queue, uses
from modqueue.queue import (
    UNIDENTIFIED,
    IngestReport,
    Permission,
    ReviewQueue,
    grant_app_role,
    ingest_jsonl,
    item_json_schema,
    make_engine,
    migrate,
)
from modqueue.settings import load_settings

DEMO_DB = "sqlite:///modqueue-demo.db"
SAMPLE_AS_OF = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
"""When the bundled sample items' `flagged_at` times stood as the demo shows them."""
CHUNK = 5000


@uses("db")
def init(
    cli: Invocation,
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
    settings = load_settings(database_url=cli.db)
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
    """Ingest JSON Lines from `stream` (the ingest service); rejections carry line numbers."""
    return ingest_jsonl(queue, stream, strict=strict, actor=actor)


@uses("reviewer", "token", "db", "guidelines", "config", "as_json")
def ingest(
    cli: Invocation,
    file: Annotated[str, typer.Argument(metavar="FILE|-", help="JSON Lines file, or - for stdin.")],
    strict: Annotated[bool, typer.Option("--strict", help="Accept all lines or none.")] = False,
    score: Annotated[
        bool, typer.Option("--score", help="Score new items with the active models afterwards.")
    ] = False,
) -> None:
    """Add flagged items, one JSON object per line; rejected lines are printed as
    `line N: reason` and the exit code is 2. Once reviewers are registered: a lead, an
    admin or a service identity."""
    with cli.open_queue() as queue:
        actor = cli.authorized(queue, Permission.INGEST)
        actor = "ingest" if actor == UNIDENTIFIED else actor
        if file == "-":
            report = ingest_stream(queue, sys.stdin.buffer, strict=strict, actor=actor)
        else:
            path = Path(file)
            if not path.is_file():
                raise fail(f"{file}: no such file", code=1)
            with path.open("rb") as stream:
                report = ingest_stream(queue, stream, strict=strict, actor=actor)
        if score:
            from modqueue.learning import prescore_pending

            scored = prescore_pending(queue, config=cli.config.models)
            for warning in scored.warnings:
                typer.echo(f"warning: {warning}", err=True)
            typer.echo(f"scored {scored.total} new item(s) with the active models", err=True)
    for r in report.rejected:
        typer.echo(f"line {r.position}: {r.reason}", err=True)
    if not cli.show(report.to_dict()):
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


@uses("reviewer", "token", "db", "config", "as_json")
def stats(cli: Invocation) -> None:
    """Queue health: pending, claimed, decided, escalated, per queue (any reviewer once
    reviewers are registered)."""
    with cli.open_queue(guidelines=False) as queue:
        cli.authorized(queue, Permission.VIEW_STATS)
        data = queue.stats()
    if data["access"]["warning"]:
        typer.echo(f"warning: {data['access']['warning']}", err=True)
    if not cli.show(data):
        _print_stats(data)


QueueNames = Annotated[
    list[str] | None, typer.Option("--queue", help="Queue to claim from (repeatable).")
]


@uses("reviewer", "token", "db", "config", "as_json")
def claim(cli: Invocation, queue_name: QueueNames = None) -> None:
    """Claim the next item for a reviewer (exit 3 when the queue is empty)."""
    with cli.open_queue() as queue:
        reviewer = cli.acting_reviewer(queue, Permission.CLAIM)
        got = queue.claim_next(reviewer, queue_name or None)
    if got is None:
        if not cli.show(None):
            typer.echo("queue empty", err=True)
        raise typer.Exit(3)
    if cli.show(got.to_dict()):
        return
    item = got.item
    typer.echo(f"item {got.item_id} in {got.queue} (priority {got.priority:.1f})")
    typer.echo(f"lease until {got.lease_expires_at.isoformat()}")
    typer.echo(json.dumps(item.text or item.url or "", ensure_ascii=False)[:400])


@uses("reviewer", "token", "db", "config", "as_json")
def decide(
    cli: Invocation,
    item_id: Annotated[int, typer.Argument(metavar="ITEM_ID")],
    label: Annotated[str, typer.Option("--label", help="Label id from the guideline.")],
    note: Annotated[str, typer.Option("--note", help="Private note (never sent out).")] = "",
) -> None:
    """Decide an item (claiming it first if it is pending)."""
    with cli.open_queue() as queue:
        reviewer = cli.acting_reviewer(queue, Permission.DECIDE)
        got = queue.claim(item_id, reviewer)
        decision = queue.decide(got, label, note, origin="cli")
    if not cli.show(decision.model_dump(mode="json")):
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


@uses("reviewer", "token", "db")
def demo(
    cli: Invocation,
    headless: Annotated[
        bool, typer.Option("--headless", help="Print the queue's state instead of the UI.")
    ] = False,
) -> None:
    """The main job on the embedded default: a SQLite file in this folder, filled with
    the bundled sample items, opened in the reviewer UI (as `--reviewer`, default
    demo-reviewer). The demo database is in open mode (no token needed); on a database
    with reviewers the reviewer is verified like `modqueue review`'s."""
    url = cli.db or DEMO_DB
    cli.reviewer = cli.reviewer or "demo-reviewer"
    queue = load_demo(url)
    try:
        if headless:
            cli.authorized(queue, Permission.VIEW_STATS)
            typer.echo(f"demo database: {_safe_url(url)}")
            _print_stats(queue.stats())
            return
        reviewer = cli.acting_reviewer(queue)
        try:
            tui = importlib.import_module("modqueue.tui")
        except ImportError:
            typer.echo("terminal UI not available; showing the queue instead", err=True)
            _print_stats(queue.stats())
            return
        # The sample items' media (https://media.example.net/...) are generated shapes
        # answered from memory: the demo needs no network and reaches no other host.
        from modqueue.integrations.media import sample_fetcher

        tui.run_review_app(
            queue=queue,
            reviewer=reviewer,
            queues=None,
            config=cli.config.tui,
            media_fetch=sample_fetcher(cli.config.media),
        )
    finally:
        queue.close()
