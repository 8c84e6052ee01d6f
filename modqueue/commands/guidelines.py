"""`modqueue guidelines check | show`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from modqueue.commands._common import Invocation, fail, uses
from modqueue.guidelines import bundled_guidelines_dir, check_guidelines, load_guidelines
from modqueue.queue import Permission
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


@app.command("replay")
@uses("reviewer", "token", "db", "guidelines", "config", "as_json")
def replay_command(
    cli: Invocation,
    directory: Annotated[Path, typer.Argument(metavar="DIR", help="The proposed guidelines.")],
    since: Annotated[
        str, typer.Option("--since", help="Items ingested in this window (e.g. 30d, 12h).")
    ] = "30d",
) -> None:
    """Rerun routing (DIR's rules plus the active models) over past items without writing
    anything: per policy, how many items would change queue or priority band, and how
    the model's suggestion agrees with the human decisions (leads and admins; `--guidelines`
    names the guidelines in force)."""
    from datetime import timedelta

    from modqueue.config import parse_duration
    from modqueue.learning import replay

    try:
        window = parse_duration(since)
    except ValueError as exc:
        raise fail(f"--since: {exc}", code=1) from None
    proposed = load_guidelines(directory)
    cfg = cli.config.models
    with cli.open_queue() as queue:
        cli.authorized(queue, Permission.MANAGE_MODELS)
        report = replay(
            queue,
            guidelines=proposed,
            since=queue.clock() - timedelta(seconds=window),
            config=cfg,
        )
    if cli.show(report.to_dict()):
        return
    typer.echo(f"{report.items} item(s) ingested since {report.since:%Y-%m-%d %H:%M} UTC replayed")
    typer.echo(
        f"{'policy':<22}{'items':>7}{'queue':>7}{'band':>6}{'decided':>9}{'label agr':>11}"
        f"{'viol agr':>10}"
    )
    for name, p in sorted(report.policies.items()):
        d = p.to_dict()
        la = "-" if d["label_agreement"] is None else f"{d['label_agreement']:.2f}"
        va = "-" if d["violation_agreement"] is None else f"{d['violation_agreement']:.2f}"
        typer.echo(
            f"{name:<22}{p.items:>7}{p.queue_changes:>7}{p.band_changes:>6}{p.decided:>9}"
            f"{la:>11}{va:>10}"
        )
