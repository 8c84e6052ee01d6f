"""Training-data export: decided items as train/validation/test splits with a dataset card.

Pseudonymous annotators and authors (keyed HMAC), masked contact details, content-hash
splits that keep near-duplicates together, streamed in constant memory.
"""

from modqueue.integrations.export._card import CardStats, render_card
from modqueue.integrations.export._export import (
    CURSOR_PREFIX,
    ExportReport,
    export_dataset,
    read_cursor,
)
from modqueue.integrations.export._privacy import KEY_ENV, Pseudonymiser, export_key
from modqueue.integrations.export._records import FIELDS, iter_records
from modqueue.integrations.export._writers import FORMATS
from modqueue.queue import SPLITS, content_key, mask_pii, normalise_text, split_for

__all__ = [
    "CURSOR_PREFIX",
    "FIELDS",
    "FORMATS",
    "KEY_ENV",
    "SPLITS",
    "CardStats",
    "ExportReport",
    "Pseudonymiser",
    "content_key",
    "export_dataset",
    "export_key",
    "iter_records",
    "mask_pii",
    "normalise_text",
    "read_cursor",
    "render_card",
    "split_for",
]
