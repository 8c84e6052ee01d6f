"""`modqueue review`: the reviewer's terminal UI (and the lead dashboard with `--lead`)."""

from __future__ import annotations

from typing import Annotated, Literal

import typer

from modqueue.commands._common import (
    ConfigOption,
    DbOption,
    ReviewerOption,
    open_config,
    open_queue,
)

__all__ = ["review"]


def review(
    reviewer: ReviewerOption,
    queue_name: Annotated[
        list[str] | None,
        typer.Option("--queue", help="Queue to review (repeatable; default: pick one)."),
    ] = None,
    lead: Annotated[
        bool, typer.Option("--lead", help="Open the lead dashboard (queue health, live).")
    ] = False,
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Open the terminal UI: review items one by one, or watch the queues with `--lead`."""
    from modqueue.tui import run_review_app

    settings = open_config(config)
    queue = open_queue(db)
    try:
        mode: Literal["review", "pick", "lead"] = (
            "lead" if lead else ("review" if queue_name else "pick")
        )
        run_review_app(
            queue=queue,
            reviewer=reviewer,
            queues=list(queue_name) if queue_name else None,
            mode=mode,
            config=settings.tui,
        )
    finally:
        queue.close()
