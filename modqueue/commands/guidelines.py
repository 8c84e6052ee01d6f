"""`modqueue guidelines check | show`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from modqueue.commands._common import Invocation, fail, uses
from modqueue.guidelines import bundled_guidelines_dir, check_guidelines, load_guidelines
from modqueue.settings import load_settings

app = typer.Typer(help="Check and show the written guidelines.", no_args_is_help=True)


@app.command("check")
def check(
    directory: Annotated[
        Path | None, typer.Argument(help="Folder to check (default: the configured one).")
    ] = None,
) -> None:
    """Validate every guideline document; report each problem with file and line."""
    folder = directory or load_settings().guidelines or bundled_guidelines_dir()
    problems = check_guidelines(folder)
    for problem in problems:
        typer.echo(str(problem), err=True)
    if problems:
        raise fail(f"{len(problems)} problem(s) in {folder}", code=1)
    count = len(list(folder.glob("*.md")))
    typer.echo(f"{folder}: {count} guideline(s) OK")


@app.command("show")
@uses("guidelines", "as_json")
def show(
    cli: Invocation,
    guideline_id: Annotated[str, typer.Argument(metavar="ID", help="Guideline id.")],
) -> None:
    """Print one guideline: its labels and hotkeys, then its text."""
    guidelines = load_guidelines(cli.guidelines or load_settings().guidelines)
    g = guidelines.get(guideline_id)
    if cli.show(g.to_dict()):
        return
    typer.echo(f"{g.title} ({g.id})")
    typer.echo(
        f"version {g.version} · severity {g.severity} · SLA {g.sla_hours:g} h"
        + (" · graphic" if g.graphic else "")
    )
    typer.echo("labels:")
    for label in g.labels:
        typer.echo(f"  [{label.hotkey}] {label.id:<28} {label.action.value:<22} {label.title}")
    typer.echo("")
    typer.echo(g.body)
