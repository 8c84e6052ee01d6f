"""The `[tui]` section of `modqueue.toml`: key remapping, break thresholds, undo grace.

This module imports neither Textual nor Rich, so the configuration loader (part of the
domain) can validate it without loading the UI.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from modqueue.guidelines import MediaView

__all__ = ["BINDING_IDS", "ImageProtocol", "TuiConfig"]

ImageProtocol = Literal["auto", "sixel", "kitty", "halfcell", "unicode"]
"""How images are drawn: `auto` picks Sixel or the Kitty graphics protocol when the
terminal answers for them, else coloured half-cells (tmux included)."""

BINDING_IDS: dict[str, str] = {
    **{f"decide-{n}": str(n) for n in range(1, 10)},
    "escalate": "e",
    "skip": "s",
    "note": "n",
    "undo": "u",
    "decide-cluster": "C",
    "reveal": "r",
    "toggle-guideline": "t",
    "queues": "g",
    "incidents": "i",
    "help": "question_mark",
    "quit": "q",
}
"""Every remappable binding id and its default key (`[tui.keys]` maps id -> key)."""


def _seconds(value: Any) -> float:
    from modqueue.config import parse_duration  # late: config imports this module

    return parse_duration(value)


class TuiConfig(BaseModel):
    """`[tui]`: how the reviewer's terminal UI behaves.

    ```toml
    [tui]
    break_after_items = 40
    break_after_minutes = "45m"
    undo_grace = "30s"

    media_view = "hidden"      # your own protection: stronger than a policy's, never weaker
    image_protocol = "auto"

    [tui.keys]
    skip = "k"
    escalate = "x"
    ```

    `media_view` is the reviewer's own choice of how media first appear (`clear` <
    `greyscale` < `blurred` < `hidden`). Each policy's guideline sets a floor: where the
    choice is weaker than the policy's `media_view`, the policy's is used and the screen
    says so.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    keys: dict[str, str] = Field(default_factory=dict)
    break_after_items: int = Field(default=50, ge=1, le=100_000)
    break_after_minutes: float = Field(default=45.0, gt=0)
    undo_grace: float = Field(default=30.0, gt=0, le=3600)
    dashboard_refresh: float = Field(default=5.0, gt=0)
    max_text_chars: int = Field(default=20_000, ge=100, le=1_000_000)
    claim_ahead: int = Field(default=1, ge=0, le=5)
    media_view: MediaView | None = None
    image_protocol: ImageProtocol = "auto"

    @field_validator("break_after_minutes", mode="before")
    @classmethod
    def _minutes(cls, value: Any) -> float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        return _seconds(value) / 60.0

    @field_validator("undo_grace", "dashboard_refresh", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> float:
        return _seconds(value)

    @field_validator("keys")
    @classmethod
    def _known_bindings(cls, value: dict[str, str]) -> dict[str, str]:
        for binding_id, key in value.items():
            if binding_id not in BINDING_IDS:
                raise ValueError(
                    f"unknown binding id {binding_id!r} (known: {', '.join(BINDING_IDS)})"
                )
            if not key.strip():
                raise ValueError(f"binding {binding_id!r}: empty key")
        return value
