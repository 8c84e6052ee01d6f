"""The `[retention]` section of `modqueue.toml`: how long personal data is kept."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["RetentionConfig"]

MAX_DAYS = 36_500


class RetentionConfig(BaseModel):
    """`[retention]`: how long each kind of personal data is kept, in whole days.

    ```toml
    [retention]
    reporter_days = 30      # reporter contact, counted from the item's final decision
    content_days = 180      # item text, URL and media URLs, from the final decision
    export_key_days = 365   # the export's stored pseudonym key, from its creation
    batch_size = 1000       # items per transaction
    ```

    Items not yet finally decided (pending, claimed, under appeal) keep everything.
    Fingerprints, clusters and decisions stay; the audit trail keeps its events, and
    only their personal fields (kept apart from the chained payload) are removed. The
    `retention` job of `modqueue serve` applies it (`[jobs.retention]` sets how often).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    reporter_days: int = Field(default=30, ge=1, le=MAX_DAYS, strict=True)
    content_days: int = Field(default=180, ge=1, le=MAX_DAYS, strict=True)
    export_key_days: int = Field(default=365, ge=1, le=MAX_DAYS, strict=True)
    batch_size: int = Field(default=1000, ge=1, le=100_000, strict=True)
