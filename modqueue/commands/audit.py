"""`modqueue audit verify | log`: the hash-chained audit trail.

`verify` reads only ids and hashes, so anyone with database access may run it (it must work
even when the reviewer table itself is in doubt); `log` shows who did what and is for a
verified lead or admin (`--as`) once reviewers are registered."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from sqlmodel import Session

from modqueue._exceptions import ConfigError
from modqueue.commands._common import Invocation, uses
from modqueue.queue import (
    AuditEvent,
    Permission,
    audit_history,
    event_dict,
    personal_of,
    verify_chain,
)

app = typer.Typer(help="The append-only, hash-chained audit trail.", no_args_is_help=True)


def _anchor(text: str) -> tuple[int, str]:
    head, sep, tail = text.partition(":")
    if not sep or not head.isdigit() or len(tail) != 64:
        raise ConfigError(f"--anchor {text!r}: use ID:HASH, e.g. 1234:<64 hex digits>")
    return int(head), tail.lower()


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
) -> None:
    """Check every link of the hash chain; names the first broken one and exits 2."""
    anchors = [_anchor(text) for text in anchor or []]
    with cli.open_queue(guidelines=False) as queue:
        report = queue.read(lambda s: verify_chain(s, anchors=anchors))
    if cli.show(report.to_dict()):
        pass
    elif report.ok:
        typer.echo(f"audit chain ok: {report.checked} events in {len(report.heads)} chain(s)")
        for event_id, digest in report.heads:
            typer.echo(f"head {event_id}:{digest}")
    else:
        after = f" (last good event {report.last_good_id})" if report.last_good_id else ""
        typer.echo(
            f"audit chain broken at event {report.broken_id}{after}: {report.problem}", err=True
        )
    if not report.ok:
        raise typer.Exit(2)


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
