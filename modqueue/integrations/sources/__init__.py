"""Sources of flagged items: HTTP feeds and drop folders, each pulled exactly once.

`make_source(name, config)` builds the right one from a `[sources.NAME]` table;
`pull(queue)` ingests what is new and returns a `SourceReport`.
"""

from __future__ import annotations

from pathlib import Path

from modqueue.config import FeedSourceConfig, FolderSourceConfig
from modqueue.integrations.sources._common import SourceError, SourceReport
from modqueue.integrations.sources._feed import (
    FeedPage,
    FeedResponseError,
    FeedSource,
    FeedUnavailable,
    cursor_name,
)
from modqueue.integrations.sources._folder import FolderSource, marker_name

__all__ = [
    "FeedPage",
    "FeedResponseError",
    "FeedSource",
    "FeedUnavailable",
    "FolderSource",
    "SourceError",
    "SourceReport",
    "cursor_name",
    "make_source",
    "marker_name",
]


def make_source(
    name: str, config: FeedSourceConfig | FolderSourceConfig, *, base: Path | None = None
) -> FeedSource | FolderSource:
    """The source for one `[sources.NAME]` table; a folder's relative path is taken from
    `base` (the configuration file's folder)."""
    if isinstance(config, FeedSourceConfig):
        return FeedSource(name, config)
    return FolderSource(name, config, base=base)
