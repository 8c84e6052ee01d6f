"""`modqueue audit verify | log`: the hash-chained audit trail."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from sqlmodel import Session

from modqueue._exceptions import ConfigError
from modqueue.commands._common import ConfigOption, DbOption, JsonOption, echo_json, open_queue
from modqueue.commands._identity import TokenOption, optional_actor
from modqueue.queue import (
    Permission,
    audit_history,
    authorize,
    event_dict,
    is_open_mode,
    verify_chain,
)

app = typer.Typer(help="The append-only, hash-chained audit trail.", no_args_is_help=True)


def _anchor(text: str) -> tuple[int, str]:
    head, sep, tail = text.partition(":")
    if not sep or not head.isdigit() or len(tail) != 64:
        raise ConfigError(f"--anchor {text!r}: use ID:HASH, e.g. 1234:<64 hex digits>")
    return int(head), tail.lower()


@app.command("verify")
def verify(
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
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Check every link of the hash chain; names the first broken one and exits 2."""
    anchors = [_anchor(text) for text in anchor or []]
    with open_queue(db) as queue:
        report = queue.read(lambda s: verify_chain(s, anchors=anchors))
    if as_json:
        echo_json(report.to_dict())
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
def log(
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
    acting: Annotated[
        str | None,
        typer.Option("--as", help="Who is reading (a lead or admin).", show_default=False),
    ] = None,
    token: TokenOption = None,
    db: DbOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show audit history, oldest first (leads and admins once reviewers exist)."""
    with open_queue(db) as queue:
        actor = optional_actor(queue, acting, token, config)

        def work(s: Session) -> list[dict[str, Any]]:
            if not is_open_mode(s):
                if actor is None:
                    raise ConfigError("reading the audit log needs a lead or admin: pass --as")
                authorize(s, reviewer=actor, permission=Permission.VIEW_AUDIT, now=queue.clock())
            rows = audit_history(s, item_id=item, actor=reviewer, event=event, limit=limit)
            return [event_dict(r) for r in rows]

        events = queue.read(work)
    if as_json:
        echo_json(events)
        return
    for e in events:
        extra = {k: e[k] for k in ("before", "after", "detail") if e[k]}
        item_text = f" item {e['item_id']}" if e["item_id"] is not None else ""
        typer.echo(
            f"{e['id']:>7} {e['at']} {e['actor']} {e['event']}{item_text}"
            + (f" {json.dumps(extra, sort_keys=True, ensure_ascii=False)}" if extra else "")
        )
