"""The `[quality]` section of `modqueue.toml`: how much of each queue gets a second review."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["DEFAULT_SECOND_REVIEW_SHARE", "QualityConfig", "QueueQualityConfig"]

DEFAULT_SECOND_REVIEW_SHARE = 0.10


class QueueQualityConfig(BaseModel):
    """`[quality.queues.POLICY]`: overrides for one policy's queue."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    second_review_share: float = Field(ge=0.0, le=1.0)


class QualityConfig(BaseModel):
    """`[quality]`: the share of primary decisions sent to a blind second review.

    ```toml
    [quality]
    second_review_share = 0.1      # default for every queue

    [quality.queues.doxxing]
    second_review_share = 0.5      # this policy's queue
    ```
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    second_review_share: float = Field(default=DEFAULT_SECOND_REVIEW_SHARE, ge=0.0, le=1.0)
    queues: dict[str, QueueQualityConfig] = Field(default_factory=dict)

    def share_for(self, policy: str) -> float:
        """The second-review share of `policy`'s queue."""
        override = self.queues.get(policy)
        return self.second_review_share if override is None else override.second_review_share
