"""Merge the core, Label Studio, quality and access branches into one line.

Revision ID: 0009_merge
Revises: 0005_labelstudio, 0007_quality, 0008_access
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0009_merge"
down_revision: str | Sequence[str] | None = ("0005_labelstudio", "0007_quality", "0008_access")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Nothing to change: this revision only joins the branches."""


def downgrade() -> None:
    """Nothing to undo."""
