"""The `modqueue` command line: Typer commands, each a thin call into the services."""

from __future__ import annotations

import sys

import typer

from modqueue._exceptions import ModqueueError
from modqueue.commands import core, guidelines, review

app = typer.Typer(
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


def main() -> None:
    """Entry point: run the CLI, turning modqueue's errors into a message and exit 1."""
    try:
        app()
    except ModqueueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
