"""Who is at the keyboard: `--reviewer` plus a token, or the operating-system user."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated

import typer

from modqueue._exceptions import PermissionDenied
from modqueue.config import load_config
from modqueue.queue import ReviewQueue, is_open_mode

__all__ = ["ActorOption", "TokenOption", "acting_reviewer", "actor_or_by", "optional_actor"]

TokenOption = Annotated[
    str | None,
    typer.Option(
        "--token",
        envvar="MODQUEUE_TOKEN",
        help="The reviewer's token (default: $MODQUEUE_TOKEN). Not needed in open mode or "
        'with [auth] mode = "os".',
        show_default=False,
    ),
]


ActorOption = Annotated[
    str | None,
    typer.Option(
        "--reviewer",
        help="Who is acting, verified with --token (or the operating-system user).",
        show_default=False,
    ),
]


def _os_mode(config: Path | None) -> bool:
    return load_config(config).auth.mode == "os"


def acting_reviewer(
    queue: ReviewQueue, reviewer: str | None, token: str | None, config: Path | None
) -> str:
    """The verified reviewer name for a command (raises `PermissionDenied`)."""
    if _os_mode(config):
        return queue.authenticate(reviewer, os_user=getpass.getuser())
    if not reviewer:
        raise PermissionDenied("no reviewer given: pass --reviewer")
    return queue.authenticate(reviewer, token)


def optional_actor(
    queue: ReviewQueue, reviewer: str | None, token: str | None, config: Path | None
) -> str | None:
    """Like `acting_reviewer`, but None when nobody is named and none is needed (open
    mode); the service then refuses or allows."""
    if reviewer is None and not _os_mode(config):
        return None
    return acting_reviewer(queue, reviewer, token, config)


def actor_or_by(
    queue: ReviewQueue, reviewer: str | None, token: str | None, config: Path | None, by: str
) -> str | None:
    """The verified `--reviewer`; without one, the free-form `--by` name in open mode
    (where nothing is verified) and None once reviewers are registered, so the service
    refuses (and audits) an unverified actor instead of trusting `--by`."""
    actor = optional_actor(queue, reviewer, token, config)
    if actor is not None:
        return actor
    return by if queue.read(is_open_mode) else None
