"""`modqueue incidents`: flood incidents for the lead (list, show, decide, dismiss) and
the standing rules on a flood's origin (mute a reporter, mark a signal source
unreliable). Every command needs a lead or admin (`MANAGE_FLOODS`) and is audited."""

from __future__ import annotations

from typing import Annotated

import typer

from modqueue.commands._common import Invocation, registrar
from modqueue.queue import (
    IncidentSummary,
    Permission,
    decide_incident,
    dismiss_incident,
    list_incidents,
    mark_source_unreliable,
    mute_reporter,
    show_incident,
)

app = typer.Typer(
    help="Flood incidents: many items from one fingerprint, reporter or signal source, "
    "folded for the lead.",
    no_args_is_help=True,
)
command = registrar(app, "reviewer", "token", "db", "guidelines", "config", "as_json")
IdArgument = Annotated[int, typer.Argument(metavar="ID", help="The incident.")]
ReasonOption = Annotated[str, typer.Option("--reason", help="Why (kept in the audit trail).")]


def _line(i: IncidentSummary) -> str:
    rule = f" [{i.rule}]" if i.rule else ""
    closed = f" by {i.closed_by}" + (f" as {i.label}" if i.label else "") if i.closed_by else ""
    return f"{i.id:>5}  {i.status:<9} {i.kind:<11} {i.item_count:>6} items  {i.key}{rule}{closed}"


@command("list")
def list_(
    cli: Invocation,
    status: Annotated[
        str | None, typer.Option("--status", help="Only open, decided or dismissed incidents.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most N.")] = 50,
) -> None:
    """List incidents, open ones first."""
    with cli.open_queue(guidelines=False) as queue:
        rows = cli.run_as(
            queue,
            Permission.MANAGE_FLOODS,
            lambda s, _actor: list_incidents(s, status=status, limit=limit),
            read=True,
        )
    if cli.show([r.to_dict() for r in rows]):
        return
    if not rows:
        typer.echo("no incidents" + (f" with status {status}" if status else ""))
    for row in rows:
        typer.echo(_line(row))


@command("show")
def show(cli: Invocation, incident_id: IdArgument) -> None:
    """One incident: its origin, its items by status and queue, the first 50 items."""
    with cli.open_queue(guidelines=False) as queue:
        view = cli.run_as(
            queue,
            Permission.MANAGE_FLOODS,
            lambda s, _actor: show_incident(s, incident_id=incident_id),
            read=True,
        )
    if cli.show(view.to_dict()):
        return
    typer.echo(_line(view.summary))
    typer.echo("by status: " + ", ".join(f"{k} {v}" for k, v in view.by_status.items()))
    typer.echo("by queue:  " + ", ".join(f"{k} {v}" for k, v in view.by_queue.items()))
    for item in view.items:
        text = (item.text or "").replace("\n", " ")[:70]
        typer.echo(f"  item {item.item_id:>7} {item.status:<8} {item.priority:6.1f}  {text}")


@command("decide")
def decide(
    cli: Invocation,
    incident_id: IdArgument,
    label: Annotated[str, typer.Option("--label", help="The label for every folded item.")],
    note: Annotated[str, typer.Option("--note", help="A note kept with each decision.")] = "",
) -> None:
    """Decide every folded item of an open incident with one label (each item its own
    decision, action and audit event; a share still goes to a blind second review)."""
    with cli.open_queue() as queue:
        actor = cli.actor(queue)
        if actor is None:
            outcome = cli.run_as(
                queue,
                Permission.MANAGE_FLOODS,
                lambda s, name: decide_incident(
                    s,
                    incident_id=incident_id,
                    actor=name,
                    label=label,
                    guidelines=queue.guidelines,
                    now=queue.clock(),
                    note=note,
                    quality=queue.quality,
                ),
            )
        else:
            outcome = queue.decide_incident(incident_id, actor, label, note=note)
    cli.say(
        {
            "incident_id": outcome.incident_id,
            "label": outcome.label,
            "decided": outcome.decided,
            "second_review": outcome.second_review,
            "skipped": [{"item_id": s.item_id, "reason": s.reason} for s in outcome.skipped],
        },
        outcome.summary,
    )


@command("dismiss")
def dismiss(cli: Invocation, incident_id: IdArgument, reason: ReasonOption = "") -> None:
    """Dismiss an open incident: its folded items go back to the reviewers."""
    with cli.open_queue(guidelines=False) as queue:
        back = cli.run_as(
            queue,
            Permission.MANAGE_FLOODS,
            lambda s, actor: dismiss_incident(
                s, incident_id=incident_id, actor=actor, now=queue.clock(), note=reason
            ),
        )
    cli.say({"returned": back}, f"incident {incident_id} dismissed: {len(back)} item(s) back")


@command("mute-reporter")
def mute(
    cli: Invocation,
    reporter: Annotated[str, typer.Argument(help="The reporter's id (item.reporter.id).")],
    reason: ReasonOption = "",
) -> None:
    """Mute a reporter: their recent pending items and every later report fold into
    their incident instead of reaching the reviewers."""
    with cli.open_queue(guidelines=False) as queue:
        done = cli.run_as(
            queue,
            Permission.MANAGE_FLOODS,
            lambda s, actor: mute_reporter(
                s,
                reporter_id=reporter,
                actor=actor,
                now=queue.clock(),
                config=queue.floods,
                reason=reason,
            ),
        )
    folded = sum(len(d.folded) for d in done)
    incident = f" into incident {done[0].incident_id}" if done else ""
    cli.say(
        {"reporter": reporter, "folded": folded, "incidents": [d.incident_id for d in done]},
        f"reporter {reporter} muted; {folded} item(s) folded{incident}",
    )


@command("unreliable-source")
def unreliable(
    cli: Invocation,
    source: Annotated[str, typer.Argument(help="The signal's name (item.signals[].name).")],
    reason: ReasonOption = "",
) -> None:
    """Mark a signal source unreliable: its score counts for `[floods] unreliable_weight`
    of itself in priority, on waiting items now and on every later one."""
    with cli.open_queue() as queue:
        changed = cli.run_as(
            queue,
            Permission.MANAGE_FLOODS,
            lambda s, actor: mark_source_unreliable(
                s,
                source=source,
                actor=actor,
                guidelines=queue.guidelines,
                now=queue.clock(),
                config=queue.floods,
                reason=reason,
            ),
        )
        weight = queue.floods.unreliable_weight
    cli.say(
        {"source": source, "weight": weight, "rescored": len(changed)},
        f"signal source {source} marked unreliable (weight {weight:g}); "
        f"{len(changed)} waiting item(s) rescored",
    )
