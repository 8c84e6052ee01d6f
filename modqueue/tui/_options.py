"""What the reviewer's UI opens on: `run_review_app` and `ReviewApp` take the same options.

Loads neither Textual nor Rich (the package's `__init__` imports it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Literal, TypedDict

from modqueue._sections.media import MediaConfig
from modqueue._sections.tui import TuiConfig

if TYPE_CHECKING:
    from modqueue.integrations.media import FetchedMedia

__all__ = ["AppMode", "AppOptions"]

AppMode = Literal["review", "pick", "lead"]


class AppOptions(TypedDict, total=False):
    """`queues` to review (default: every non-senior queue), the `mode` to start in
    (default `"review"`; `"pick"` the queue picker, `"lead"` the lead dashboard), the
    `config` (default `TuiConfig()`), the `media` fetcher's limits (default
    `MediaConfig()`: public addresses only) and `media_fetch`, what fetches a media URL
    (default: the safe fetcher under `media`; the demo passes its sample images)."""

    queues: list[str] | None
    mode: AppMode
    config: TuiConfig | None
    media: MediaConfig | None
    media_fetch: Callable[[str], FetchedMedia] | None
