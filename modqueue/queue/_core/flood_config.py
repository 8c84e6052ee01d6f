"""The `[floods]` section of `modqueue.toml`: when many items from one origin fold into
one incident for the lead instead of swamping the reviewers."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

__all__ = ["FloodKind", "FloodsConfig"]


def _seconds(value: Any) -> float:
    if isinstance(value, str):
        text = value.strip().lower()
        units = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
        number = text[:-1]
        if text and text[-1] in units and number.replace(".", "", 1).isdigit():
            return float(number) * units[text[-1]]
        raise ValueError(f"{value!r} is not a duration (e.g. '90s', '15m', '1h', '1d')")
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    return float(value)


class FloodKind:
    """What a flood has in common: one fingerprint (a content cluster), one reporter (the
    reporter's id) or one signal source (a signal's name, e.g. a hash bank)."""

    FINGERPRINT = "fingerprint"
    REPORTER = "reporter"
    SOURCE = "source"
    ALL = (FINGERPRINT, REPORTER, SOURCE)


class FloodsConfig(BaseModel):
    """`[floods]`: flood folding.

    ```toml
    [floods]
    enabled = true
    window = "1h"             # items counted over the last hour (by ingest time)
    fingerprint = 50          # more than 50 copies of one cluster in the window fold
    reporter = 30             # more than 30 items reported by one reporter fold
    source = 0                # off; e.g. 500: more than 500 items carrying one signal fold
    unreliable_weight = 0.25  # a signal source marked unreliable counts a quarter
    ```

    A threshold of 0 turns that kind off. Signal-source floods are off by default: a
    team's main classifier flags many items every hour, so set `source` above its normal
    hourly volume. Folded items leave the reviewers' queue (status `folded`) until the
    lead decides or dismisses the incident.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    enabled: bool = True
    window_s: Annotated[float, BeforeValidator(_seconds)] = Field(
        default=3600.0, gt=0, le=30 * 86400, alias="window"
    )
    fingerprint: int = Field(default=50, ge=0, le=10_000_000)
    reporter: int = Field(default=30, ge=0, le=10_000_000)
    source: int = Field(default=0, ge=0, le=10_000_000)
    unreliable_weight: float = Field(default=0.25, ge=0.0, lt=1.0)

    def threshold(self, kind: str) -> int:
        """The item count above which `kind` folds (0: never)."""
        return int(getattr(self, kind))
