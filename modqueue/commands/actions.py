"""`modqueue actions`: deliver the outbox, list it, retry failed actions.

Once reviewers are registered, `dispatch` runs as a verified service identity (`--service`,
role `service`), and `list` and `retry` need a verified lead or admin (`--reviewer`)."""

from __future__ import annotations

import logging
import signal
import sys
from typing import Annotated, Any

import typer

from modqueue.commands._common import Invocation, fail, uses
from modqueue.integrations.actions import (
    DispatchReport,
    destinations,
    list_actions,
    retry_actions,
    run_dispatcher,
)
from modqueue.queue import Permission

app = typer.Typer(
    help="Takedown actions: deliver the outbox to platforms, list it, retry failures.",
    no_args_is_help=True,
)


@app.command("dispatch")
@uses("service", "token", "db", "config", "as_json")
def dispatch(
    cli: Invocation,
    once: Annotated[
        bool, typer.Option("--once", help="Deliver what is due now, then exit.")
    ] = False,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, max=10_000, help="Actions claimed per batch.")
    ] = 100,
    idle: Annotated[
        float, typer.Option("--idle", min=0.01, help="Seconds to wait when nothing is due.")
    ] = 1.0,
) -> None:
    """Deliver due actions to each configured platform and follow up pending
    outcomes; runs until interrupted (SIGINT/SIGTERM finish the current batch), or one
    pass with --once."""
    cfg = cli.config
    targets = destinations(cfg)
    if not targets:
        where = cfg.path or "modqueue.toml"
        raise fail(
            f"{where}: no [platforms.NAME] table and no source with notify_url: "
            "nothing to deliver to"
        )
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    stop = {"now": False}

    def request_stop(*_: Any) -> None:
        stop["now"] = True

    if not once:
        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
    total = DispatchReport()
    warned: set[str] = set()

    def on_pass(delivered: DispatchReport, polled: DispatchReport) -> None:
        for name in ("claimed", "done", "declined", "sent", "follow_up", "retried", "failed"):
            setattr(total, name, getattr(total, name) + getattr(delivered, name))
        total.done += polled.done
        total.declined += polled.declined
        total.errors.extend(delivered.errors[: max(0, 100 - len(total.errors))])
        for source, count in delivered.unconfigured.items():
            if source not in warned:
                warned.add(source)
                print(
                    f"warning: {count} due action(s) for source {source!r}, which has no "
                    f"[platforms.{source}] table; they stay pending",
                    file=sys.stderr,
                )
        total.unconfigured = delivered.unconfigured
        if not cli.as_json and (delivered.busy or polled.busy):
            line = f"delivered: {delivered.summary()}"
            if polled.busy:
                line += f"; follow-up: {polled.summary()}"
            typer.echo(line)

    # Delivering never decides: no guidelines to parse (a third of a second per start).
    with cli.open_queue(guidelines=False) as queue:
        queue.service = cli.authorized(queue, Permission.RUN_SERVICE)
        run_dispatcher(
            queue,
            targets,
            once=once,
            batch_size=batch_size,
            idle_s=idle,
            on_pass=on_pass,
            should_stop=lambda: stop["now"],
        )
    cli.show(total.to_dict())


@app.command("list")
@uses("reviewer", "token", "db", "config", "as_json")
def list_(
    cli: Invocation,
    status: Annotated[
        str | None,
        typer.Option(
            "--status",
            help="Only actions in this status: pending, sent, done, declined, failed, cancelled.",
        ),
    ] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="At most N.")] = None,
) -> None:
    """List outbound actions, oldest first (leads and admins)."""
    with cli.open_queue(guidelines=False) as queue:
        rows = cli.run_as(
            queue,
            Permission.VIEW_ACTIONS,
            lambda s, _actor: list_actions(s, status=status, limit=limit),
            read=True,
        )
    if cli.show([r.model_dump(mode="json") for r in rows]):
        return
    if not rows:
        typer.echo("no actions" + (f" with status {status}" if status else ""))
        return
    typer.echo(f"{'id':>6}  {'status':<9} {'action':<22} {'attempts':>8}  target / last error")
    for r in rows:
        typer.echo(
            f"{r.id:>6}  {r.status:<9} {r.action:<22} {r.attempts:>8}  "
            f"{r.source}:{r.external_id}" + (f" ref {r.reference}" if r.reference else "")
        )
        if r.last_error:
            typer.echo(f"{'':>8}{r.last_error[:200]}")


@app.command("retry")
@uses("reviewer", "token", "db", "config", "as_json")
def retry(
    cli: Invocation,
    action_id: Annotated[
        int | None, typer.Argument(metavar="[ID]", help="The failed action to queue again.")
    ] = None,
    failed: Annotated[bool, typer.Option("--failed", help="Queue every failed action.")] = False,
) -> None:
    """Queue a failed action again (same idempotency key, attempts from zero); leads and
    admins. The audit trail names the verified reviewer as the actor."""
    if (action_id is None) == (not failed):
        raise fail("give either an action ID or --failed")
    with cli.open_queue(guidelines=False) as queue:
        ids = cli.run_as(
            queue,
            Permission.RETRY_ACTIONS,
            lambda s, actor: retry_actions(
                s,
                action_ids=None if failed else [action_id] if action_id is not None else [],
                actor=actor,
                now=queue.clock(),
            ),
        )
    if not cli.show({"queued": ids}):
        typer.echo(f"queued again: {len(ids)} action(s)" + (f" ({_ids(ids)})" if ids else ""))


def _ids(ids: list[int]) -> str:
    shown = ", ".join(map(str, ids[:20]))
    return shown + (f", ... ({len(ids) - 20} more)" if len(ids) > 20 else "")
