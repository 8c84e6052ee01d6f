"""The `[models]` section of `modqueue.toml`: where models live and how they route."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["ModelsConfig", "PolicyModelConfig"]


def _days(value: Any) -> float:
    from modqueue.config import parse_duration

    return parse_duration(value) / 86400.0


class PolicyModelConfig(BaseModel):
    """`[models.policies.POLICY]`: routing by the policy's model score (both optional).

    An item scoring at least `suggest_above` is queued with the model's label as a
    suggestion; one scoring below `low_below` goes to the policy's low-priority lane.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    suggest_above: float | None = Field(default=None, gt=0.0, le=1.0)
    low_below: float | None = Field(default=None, ge=0.0, lt=1.0)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if (
            self.suggest_above is not None
            and self.low_below is not None
            and self.low_below >= self.suggest_above
        ):
            raise ValueError("low_below must be lower than suggest_above")
        return self


class ModelsConfig(BaseModel):
    """`[models]`: the model loop.

    ```toml
    [models]
    dir = "models"              # artefacts: dir/<policy>/<version>/
    min_decisions = 50          # refuse to train on fewer final human decisions
    target_precision = 0.95     # the card's operating point
    drift_margin = 0.10         # flag a model whose recent precision fell this much
    drift_window = "30d"        # recent human decisions the drift check reads

    [models.policies.hate]
    suggest_above = 0.95
    low_below = 0.05
    ```
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    dir: Path = Path("models")
    min_decisions: int = Field(default=50, ge=10)
    target_precision: float = Field(default=0.95, gt=0.0, lt=1.0)
    drift_margin: float = Field(default=0.10, gt=0.0, lt=1.0)
    drift_window_days: float = Field(default=30.0, gt=0.0, alias="drift_window")
    drift_min_decisions: int = Field(default=20, ge=1)
    policies: dict[str, PolicyModelConfig] = Field(default_factory=dict)

    @field_validator("drift_window_days", mode="before")
    @classmethod
    def _window(cls, value: Any) -> float:
        return _days(value)

    def for_policy(self, policy: str) -> PolicyModelConfig:
        """The routing bands of `policy` (none when not configured)."""
        return self.policies.get(policy) or PolicyModelConfig()
