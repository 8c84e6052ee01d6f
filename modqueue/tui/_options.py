"""What the reviewer's UI opens on: `run_review_app` and `ReviewApp` take the same options.

Loads neither Textual nor Rich (the package's `__init__` imports it).
"""

from __future__ import annotations

from typing import Literal, TypedDict

from modqueue._sections.media import MediaConfig
from modqueue._sections.tui import TuiConfig

__all__ = ["AppMode", "AppOptions"]

AppMode = Literal["review", "pick", "lead"]


class AppOptions(TypedDict, total=False):
    """`queues` to review (default: every non-senior queue), the `mode` to start in
    (default `"review"`; `"pick"` the queue picker, `"lead"` the lead dashboard), the
    `config` (default `TuiConfig()`) and the `media` fetcher's limits (default
    `MediaConfig()`: public addresses only)."""

    queues: list[str] | None
    mode: AppMode
    config: TuiConfig | None
    media: MediaConfig | None
