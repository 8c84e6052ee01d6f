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
from modqueue.commands._identity import TokenOption, acting_reviewer
from modqueue.queue import Permission

__all__ = ["review"]


def review(
    reviewer: ReviewerOption,
    queue_name: Annotated[
        list[str] | None,
        typer.Option("--queue", help="Queue to review (repeatable; default: pick one)."),
    ] = None,
    lead: Annotated[
        bool,
        typer.Option("--lead", help="Open the lead dashboard (queue health, live; leads and up)."),
    ] = False,
    token: TokenOption = None,
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Open the terminal UI: review items one by one, or watch the queues with `--lead`.

    The reviewer is verified (token, or the operating-system user) before the UI opens;
    `--lead` and each `--queue` are checked against their role and policies up front."""
    from modqueue.tui import run_review_app

    settings = open_config(config)
    queue = open_queue(db, config=settings)
    try:
        reviewer = acting_reviewer(queue, reviewer, token, config)
        if lead:
            queue.check_access(reviewer, Permission.VIEW_DASHBOARD)
        for name in queue_name or []:
            queue.check_access(reviewer, Permission.CLAIM, queue=name)
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
