"""`modqueue audit verify | log`: the hash-chained audit trail.

`verify` reads only ids and hashes, so anyone with database access may run it (it must work
even when the reviewer table itself is in doubt); `log` shows who did what and is for a
verified lead or admin (`--as`) once reviewers are registered."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from sqlmodel import Session

from modqueue._exceptions import ConfigError, DatabaseBusy
from modqueue.commands._common import Invocation, uses
from modqueue.queue import (
    AUDIT_MONTHS_AHEAD,
    AuditEvent,
    ChainReport,
    Permission,
    ReviewQueue,
    audit_history,
    audit_partitions,
    ensure_audit_partitions,
    event_dict,
    latest_checkpoint,
    personal_of,
    verify_chain,
    verify_since,
    write_checkpoint,
)

app = typer.Typer(help="The append-only, hash-chained audit trail.", no_args_is_help=True)


def _anchor(text: str) -> tuple[int, str]:
    head, sep, tail = text.partition(":")
    if not sep or not head.isdigit() or len(tail) != 64:
        raise ConfigError(f"--anchor {text!r}: use ID:HASH, e.g. 1234:<64 hex digits>")
    return int(head), tail.lower()


def _since(text: str) -> int | None:
    """`--since`: a checkpoint number, or `last` (None: the newest)."""
    if text == "last":
        return None
    if not text.isdigit() or int(text) < 1:
        raise ConfigError(f"--since {text!r}: give a checkpoint number (1, 2, ...) or `last`")
    return int(text)


def _verify(
    queue: ReviewQueue, since: str | None, anchors: list[tuple[int, str]]
) -> tuple[ChainReport, int | None]:
    """Verify (from a checkpoint with `since`); `(report, checkpoint started from)`."""
    if since is None:
        return queue.read(lambda s: verify_chain(s, anchors=anchors)), None
    wanted = _since(since)
    start = wanted or queue.read(latest_checkpoint)
    if start is None:
        raise ConfigError("--since last: no audit checkpoint yet; run a full `audit verify`")
    return queue.read(lambda s: verify_since(s, checkpoint=start, anchors=anchors)), start


def _checkpoint(queue: ReviewQueue, report: ChainReport) -> int | None:
    """Store a passed verification's heads as a checkpoint (on the primary database).
    A busy database (another process holds SQLite's writers' lock) does not fail the
    verification, which only reads: the checkpoint is skipped with a warning."""
    try:
        return queue.run(lambda s: write_checkpoint(s, report=report, now=queue.clock()))
    except DatabaseBusy as exc:
        typer.echo(f"warning: checkpoint not written: {exc}", err=True)
        return None


def _show(cli: Invocation, report: ChainReport, start: int | None, written: int | None) -> None:
    if cli.show({**report.to_dict(), "since_checkpoint": start, "checkpoint": written}):
        pass
    elif report.ok:
        where = f" after checkpoint {start}" if start is not None else ""
        typer.echo(
            f"audit chain ok: {report.checked} events{where} in {len(report.heads)} chain(s)"
        )
        for event_id, digest in report.heads:
            typer.echo(f"head {event_id}:{digest}")
        if written is not None:
            typer.echo(f"checkpoint {written} written")
    else:
        after = f" (last good event {report.last_good_id})" if report.last_good_id else ""
        typer.echo(
            f"audit chain broken at event {report.broken_id}{after}: {report.problem}", err=True
        )
    if not report.ok:
        raise typer.Exit(2)


@app.command("verify")
@uses("db", "as_json")
def verify(
    cli: Invocation,
    anchor: Annotated[
        list[str] | None,
        typer.Option(
            "--anchor",
            metavar="ID:HASH",
            help="A chain head recorded earlier (from a previous verify; repeat for each "
            "chain); also detects a truncated tail.",
            show_default=False,
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            metavar="CHECKPOINT",
            help="Verify only the events after this checkpoint (a number, or `last`), "
            "after checking that the checkpoint still matches the trail.",
            show_default=False,
        ),
    ] = None,
    checkpoint: Annotated[
        bool,
        typer.Option(
            "--checkpoint/--no-checkpoint",
            help="Store the verified heads as a new checkpoint when the chain is ok.",
        ),
    ] = True,
) -> None:
    """Check every link of the hash chain (or those after a checkpoint); names the first
    broken one and exits 2. Passing, it stores a checkpoint for the next `--since`."""
    anchors = [_anchor(text) for text in anchor or []]
    with cli.open_queue(guidelines=False) as queue:
        report, start = _verify(queue, since, anchors)
        written = _checkpoint(queue, report) if report.ok and checkpoint else None
    _show(cli, report, start, written)


@app.command("checkpoint")
@uses("db", "as_json")
def checkpoint_command(cli: Invocation) -> None:
    """Verify the events after the newest checkpoint (all of them when there is none) and
    store the heads as a new checkpoint; exits 2 when the chain is broken."""
    with cli.open_queue(guidelines=False) as queue:
        newest = queue.read(latest_checkpoint)
        report, start = _verify(queue, None if newest is None else str(newest), [])
        written = _checkpoint(queue, report) if report.ok else None
    _show(cli, report, start, written)


@app.command("partitions")
@uses("db", "as_json")
def partitions(
    cli: Invocation,
    ahead: Annotated[
        int,
        typer.Option("--ahead", min=0, max=120, help="Months after this one to create."),
    ] = AUDIT_MONTHS_AHEAD,
) -> None:
    """Create this month's and the coming months' audit partitions where missing
    (PostgreSQL; `modqueue serve` does it daily), and list them."""
    with cli.open_queue(guidelines=False) as queue:
        made = queue.run(lambda s: ensure_audit_partitions(s, months_ahead=ahead))
        parts = queue.run(audit_partitions)
    rows = [
        {"name": p.name, "bounds": p.bounds, "rows_estimate": p.rows_estimate, "bytes": p.bytes}
        for p in parts
    ]
    if cli.show({"created": made, "partitions": rows}):
        return
    if not rows:
        typer.echo("audit_event is not partitioned (SQLite, or not migrated)")
        return
    typer.echo(f"{made} partition(s) created")
    for r in rows:
        typer.echo(f"{r['name']:<28} {r['bounds']}  ~{r['rows_estimate']} rows  {r['bytes']} B")


@app.command("log")
@uses("acting", "token", "db", "config", "as_json")
def log(
    cli: Invocation,
    item: Annotated[
        int | None, typer.Option("--item", help="Only this item's events.", show_default=False)
    ] = None,
    reviewer: Annotated[
        str | None,
        typer.Option("--reviewer", help="Only events by this actor.", show_default=False),
    ] = None,
    event: Annotated[
        str | None, typer.Option("--event", help="Only this event name.", show_default=False)
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many.")] = 200,
) -> None:
    """Show audit history, oldest first (leads and admins once reviewers exist)."""
    with cli.open_queue(guidelines=False) as queue:
        events = cli.run_as(
            queue,
            Permission.VIEW_AUDIT,
            lambda s, _actor: _with_personal(
                s, audit_history(s, item_id=item, actor=reviewer, event=event, limit=limit)
            ),
            read=True,
        )
    if cli.show(events):
        return
    for e in events:
        extra = {k: e[k] for k in ("before", "after", "detail") if e[k]}
        item_text = f" item {e['item_id']}" if e["item_id"] is not None else ""
        typer.echo(
            f"{e['id']:>7} {e['at']} {e['actor']} {e['event']}{item_text}"
            + (f" {json.dumps(extra, sort_keys=True, ensure_ascii=False)}" if extra else "")
        )


def _with_personal(session: Session, rows: list[AuditEvent]) -> list[dict[str, Any]]:
    personal = personal_of(session, [r.id for r in rows if r.id is not None])
    return [event_dict(r, personal.get(r.id or 0)) for r in rows]
