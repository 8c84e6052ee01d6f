"""Merge the core, Label Studio, quality and access branches into one line."""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0009_merge"
down_revision: str | Sequence[str] | None = ("0005_labelstudio", "0007_quality", "0008_access")


def upgrade() -> None:
    """Nothing to change: this revision only joins the branches."""


def downgrade() -> None:
    """Nothing to undo."""
