"""The `modqueue` command line: Typer commands, each a thin call into the services."""

from __future__ import annotations

import sys
from typing import Any

import typer
from typer.core import TyperGroup

from modqueue._exceptions import ModqueueError
from modqueue.commands import (
    actions,
    audit,
    bank,
    clusters,
    core,
    exposure,
    guidelines,
    incidents,
    labelstudio,
    model,
    privacy,
    quality,
    report,
    review,
    reviewers,
    serve,
)


class _ModqueueGroup(TyperGroup):
    """Turns modqueue's own errors into `error: ...` on stderr and exit status 1."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except ModqueueError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None


app = typer.Typer(
    cls=_ModqueueGroup,
    name="modqueue",
    help="modqueue: the review desk of a trust-and-safety team.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("init")(core.init)
app.command("schema")(core.schema)
app.command("ingest")(core.ingest)
app.command("stats")(core.stats)
app.command("claim")(core.claim)
app.command("decide")(core.decide)
app.command("demo")(core.demo)
app.command("review")(review.review)
app.add_typer(guidelines.app, name="guidelines")
app.command("serve")(serve.serve)
app.add_typer(serve.config_app, name="config")
app.add_typer(actions.app, name="actions")
app.add_typer(reviewers.app, name="reviewers")
app.add_typer(audit.app, name="audit")
app.add_typer(bank.app, name="bank")
app.command("quality")(quality.quality)
app.command("appeal")(quality.appeal)
app.command("appeals")(quality.appeals)
app.command("export")(quality.export)
app.command("fill-splits")(quality.fill_splits)
app.add_typer(quality.gold_app, name="gold")
app.add_typer(labelstudio.app, name="labelstudio")
app.add_typer(model.app, name="model")
app.command("erase")(privacy.erase)
app.command("retention")(privacy.retention)
app.add_typer(incidents.app, name="incidents")
app.add_typer(clusters.app, name="clusters")
app.add_typer(exposure.app, name="exposure")
app.add_typer(report.app, name="report")


def main() -> None:
    """Entry point: run the CLI, turning modqueue's errors into a message and exit 1."""
    try:
        app()
    except ModqueueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
