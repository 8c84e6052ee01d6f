"""Widgets of the reviewer's UI, named by their role."""

from modqueue.tui.components.cluster_card import ClusterCard
from modqueue.tui.components.exposure_meter import ExposureMeter
from modqueue.tui.components.guideline_panel import GuidelinePanel
from modqueue.tui.components.item_card import ItemCard
from modqueue.tui.components.literal import literal, literal_block, sanitize
from modqueue.tui.components.media_panel import (
    MediaEntry,
    MediaFetch,
    MediaPanel,
    MediaRequest,
    media_entries,
)
from modqueue.tui.components.queue_health_table import QueueHealthTable, sparkline
from modqueue.tui.components.queue_table import QueueTable

__all__ = [
    "ClusterCard",
    "ExposureMeter",
    "GuidelinePanel",
    "ItemCard",
    "MediaEntry",
    "MediaFetch",
    "MediaPanel",
    "MediaRequest",
    "QueueHealthTable",
    "QueueTable",
    "literal",
    "literal_block",
    "media_entries",
    "sanitize",
    "sparkline",
]
