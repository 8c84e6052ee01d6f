"""`[deadlines]` in `modqueue.toml`: when an item counts as near its SLA deadline, and
what a breach does. Used by `modqueue.queue.deadlines` (kept apart so that the
configuration never has to import the queue)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["DeadlinesConfig"]


class DeadlinesConfig(BaseModel):
    """`[deadlines]` in `modqueue.toml`: when an item is near its deadline, and what a
    breach does."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    near: float = Field(default=0.25, gt=0, lt=1)
    """Share of the SLA left at which an item is marked `near` (0.25: the last quarter)."""
    boost: float = Field(default=25.0, ge=0, le=1000)
    """Priority points added to an item once its deadline has passed."""
    escalate: bool = True
    """Move breached pending items to their policy's senior queue."""
    batch_size: int = Field(default=500, ge=1, le=100_000)
    """Items changed per transaction."""
