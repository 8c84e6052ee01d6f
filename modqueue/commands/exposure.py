"""`modqueue exposure show|lift|people`: exposure budgets from the command line.

Anyone sees their own exposure this shift; a lead lifts a reviewer's hold on graphic work
for one shift (audited); only admins see other people's figures (`view_personal_exposure`).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

import typer

from modqueue.commands._common import Invocation, registrar
from modqueue.queue import ExposureStatus

app = typer.Typer(
    help="Exposure budgets: what reviewers were shown this shift, and the lead's lift.",
    no_args_is_help=True,
)
command = registrar(app, "reviewer", "token", "db", "guidelines", "config", "as_json")
ReviewerArg = Annotated[str, typer.Argument(metavar="REVIEWER", help="A reviewer's name.")]


def _status(status: ExposureStatus) -> dict[str, Any]:
    out = asdict(status)
    for key in ("shift_started", "lifted_until"):
        if out[key] is not None:
            out[key] = out[key].isoformat()
    out["held_back"] = list(status.held_back)
    return out


@command("show")
def show(
    cli: Invocation,
    of: Annotated[
        str | None,
        typer.Option("--of", help="Another reviewer's exposure (admins only)."),
    ] = None,
) -> None:
    """Your exposure this shift (points against your budget, graphic reveals, whether
    graphic queues are held back for you)."""
    with cli.open_queue() as queue:
        me = cli.acting_reviewer(queue)
        status = queue.exposure_status(me, of=of)
    if cli.show(_status(status)):
        return
    typer.echo(f"{status.reviewer}: {status.explain()}")
    typer.echo(f"graphic reveals this shift: {status.graphic_reveals}")


@command("lift")
def lift(
    cli: Invocation,
    who: ReviewerArg,
    reason: Annotated[str, typer.Option("--reason", help="Why, for the audit trail.")] = "",
) -> None:
    """Let REVIEWER have graphic work again until the end of one shift (leads; audited)."""
    with cli.open_queue() as queue:
        lead = cli.acting_reviewer(queue)
        done = queue.lift_exposure(lead, who, reason=reason)
    cli.say(
        {"reviewer": done.reviewer, "lifted_by": done.lifted_by, "until": done.until.isoformat()},
        f"{done.reviewer}: graphic work allowed again until {done.until.isoformat()} "
        f"(lifted by {done.lifted_by})",
    )


@command("people")
def people(cli: Invocation) -> None:
    """Every reviewer's exposure this shift, most exposed first (admins only: per-person
    figures are sensitive)."""
    with cli.open_queue() as queue:
        actor = cli.acting_reviewer(queue)
        rows = queue.exposure_people(actor)
    if cli.show([asdict(r) for r in rows]):
        return
    typer.echo(f"{'reviewer':<24}{'points':>8}{'shown':>7}{'graphic reveals':>17}")
    for r in rows:
        typer.echo(f"{r.reviewer:<24}{r.points:>8.0f}{r.shown:>7}{r.graphic_reveals:>17}")
