"""`modqueue review`: the reviewer's terminal UI (and the lead dashboard with `--lead`)."""

from __future__ import annotations

from typing import Annotated, Literal

import typer

from modqueue.commands._common import Invocation, uses
from modqueue.guidelines import MediaView
from modqueue.queue import Permission

__all__ = ["review"]


@uses("reviewer", "token", "db", "config")
def review(
    cli: Invocation,
    queue_name: Annotated[
        list[str] | None,
        typer.Option("--queue", help="Queue to review (repeatable; default: pick one)."),
    ] = None,
    lead: Annotated[
        bool,
        typer.Option("--lead", help="Open the lead dashboard (queue health, live; leads and up)."),
    ] = False,
    media_view: Annotated[
        MediaView | None,
        typer.Option(
            "--media-view",
            help="Your own protection for media: stronger than a policy's applies, weaker "
            "is refused on screen (default: [tui] media_view, else each policy's).",
        ),
    ] = None,
) -> None:
    """Open the terminal UI: review items one by one, or watch the queues with `--lead`.

    The reviewer is verified (token, or the operating-system user) before the UI opens;
    `--lead` and each `--queue` are checked against their role and policies up front."""
    from modqueue.tui import run_review_app

    queue = cli.open_queue()
    try:
        reviewer = cli.acting_reviewer(
            queue, Permission.VIEW_DASHBOARD if lead else Permission.CLAIM
        )
        if lead:
            queue.check_access(reviewer, Permission.VIEW_DASHBOARD)
        for name in queue_name or []:
            queue.check_access(reviewer, Permission.CLAIM, queue=name)
        if not lead and not queue_name:  # the picker: a role that works queues at all
            queue.check_access(reviewer, Permission.CLAIM)
        tui = cli.config.tui
        if media_view is not None:
            tui = tui.model_copy(update={"media_view": media_view})
        mode: Literal["review", "pick", "lead"] = (
            "lead" if lead else ("review" if queue_name else "pick")
        )
        run_review_app(
            queue=queue,
            reviewer=reviewer,
            queues=list(queue_name) if queue_name else None,
            mode=mode,
            config=tui,
            media=cli.config.media,
        )
    finally:
        queue.close()
