"""Options and helpers every command shares."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from modqueue.config import ModqueueConfig, load_config
from modqueue.queue import ReviewQueue
from modqueue.settings import load_settings

__all__ = [
    "ConfigOption",
    "DbOption",
    "GuidelinesOption",
    "JsonOption",
    "ReviewerOption",
    "echo_json",
    "fail",
    "open_config",
    "open_queue",
]

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Database URL (default: $MODQUEUE_DATABASE_URL or sqlite:///modqueue.db).",
        show_default=False,
    ),
]
GuidelinesOption = Annotated[
    Path | None,
    typer.Option(
        "--guidelines",
        help="Folder of guideline documents (default: $MODQUEUE_GUIDELINES or the bundled ones).",
        show_default=False,
    ),
]
ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", help="Configuration file (default: ./modqueue.toml if present)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
ReviewerOption = Annotated[str, typer.Option("--reviewer", help="Reviewer id.")]


def open_queue(
    db: str | None, guidelines: Path | None = None, *, config: ModqueueConfig | None = None
) -> ReviewQueue:
    """The review queue for `--db`/`--guidelines` or the environment's settings; with
    `config`, its `[quality]` section (when present) sets the second-review shares."""
    settings = load_settings(database_url=db, guidelines=guidelines)
    queue = ReviewQueue(settings=settings)
    if config is not None and "quality" in config.model_fields_set:
        queue.quality = config.quality
    return queue


def open_config(path: Path | None) -> ModqueueConfig:
    """The TOML configuration for `--config` (or ./modqueue.toml)."""
    return load_config(path)


def echo_json(value: Any) -> None:
    """Print `value` as indented JSON."""
    typer.echo(json.dumps(value, indent=2, sort_keys=True, default=str, ensure_ascii=False))


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print `error: message` to stderr; return the Exit to raise."""
    print(f"error: {message}", file=sys.stderr)
    return typer.Exit(code)
