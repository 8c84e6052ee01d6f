"""The `[exposure]` section of `modqueue.toml`: how much harmful material a reviewer is
shown in a shift before graphic work is routed to someone else."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

__all__ = ["ExposureConfig", "ExposureKind"]


def _hours(value: Any) -> float:
    if isinstance(value, str):
        text = value.strip().lower()
        units = {"h": 1.0, "m": 1 / 60}
        if text and text[-1] in units and text[:-1].replace(".", "", 1).isdigit():
            return float(text[:-1]) * units[text[-1]]
        raise ValueError(f"{value!r} is not a duration in hours or minutes (e.g. '8h', '90m')")
    return float(value)


class ExposureKind:
    """What added exposure: an item shown on screen (graphic parts hidden), or a reveal
    of graphic text or of media."""

    SEEN = "seen"
    TEXT = "revealed_text"
    MEDIA = "revealed_media"
    CHECKIN = "checkin_shown"
    REVEALS = (TEXT, MEDIA)


class ExposureConfig(BaseModel):
    """`[exposure]`: per-shift exposure budgets.

    ```toml
    [exposure]
    enabled = true
    shift = "8h"                 # a shift: the last 8 hours
    budget = 300                 # points per shift (default for everyone)
    near = 0.8                   # from 80% of the budget, graphic policies are held back
    seen = 1.0                   # an item shown: severity x 1 (graphic parts hidden)
    graphic_seen = 2.0           # an item of a graphic policy shown: severity x 2
    revealed_text = 4.0          # graphic text revealed: severity x 4
    revealed_media = 6.0         # media revealed: severity x 6 (a graphic image counts most)
    checkin_after = 10           # graphic reveals in a shift before a check-in is offered
                                 # (0 = never)

    [exposure.budgets]
    alice = 400                  # a reviewer's own budget
    ```

    Points are the policy's severity (1-5) times the weight of what happened. Near the
    budget, `claim_next` stops handing that reviewer items of graphic policies; a lead
    can lift this for one shift (audited).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    enabled: bool = True
    shift_hours: Annotated[float, BeforeValidator(_hours)] = Field(
        default=8.0, gt=0, le=24, alias="shift"
    )
    budget: float = Field(default=300.0, gt=0)
    near: float = Field(default=0.8, gt=0, le=1.0)
    seen: float = Field(default=1.0, ge=0)
    graphic_seen: float = Field(default=2.0, ge=0)
    revealed_text: float = Field(default=4.0, ge=0)
    revealed_media: float = Field(default=6.0, ge=0)
    checkin_after: int = Field(default=10, ge=0)
    budgets: dict[str, Annotated[float, Field(gt=0)]] = Field(default_factory=dict)

    def budget_for(self, reviewer: str) -> float:
        """`reviewer`'s budget per shift."""
        return self.budgets.get(reviewer, self.budget)

    def weight(self, kind: str, *, graphic: bool) -> float:
        """The weight of `kind` (an `ExposureKind`) for a policy that is or is not graphic."""
        if kind == ExposureKind.SEEN:
            return self.graphic_seen if graphic else self.seen
        if kind == ExposureKind.TEXT:
            return self.revealed_text
        return self.revealed_media
