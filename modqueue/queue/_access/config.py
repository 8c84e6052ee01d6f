"""The `[auth]` section of `modqueue.toml`: how the CLI and terminal UI identify reviewers."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

__all__ = ["AuthConfig"]


class AuthConfig(BaseModel):
    """`mode = "token"` (default): `--reviewer` plus a token from `--token` or
    `MODQUEUE_TOKEN`, checked against the stored hash. `mode = "os"`: trust the
    operating-system user; `--reviewer`, when given, must be that user."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Literal["token", "os"] = "token"
