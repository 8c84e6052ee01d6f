"""The `[labelstudio]` section of `modqueue.toml` and the connection settings.

```toml
[labelstudio]
queues = ["hate", "doxxing"]   # queues (policy ids) routed to Label Studio
share = 0.25                   # 0..1: the share of each queue's items sent there
batch_size = 500               # tasks per import request
lease = "7d"                   # how long Label Studio holds an item it was sent
project_prefix = "modqueue"    # projects are titled "<prefix>: <policy>"
```

The server and its key come from the environment: `LABEL_STUDIO_URL` and
`LABEL_STUDIO_API_KEY` (a legacy token or a personal access token). `url` in the section
is a fallback for the URL only; the key is never read from a file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from modqueue._exceptions import ConfigError

__all__ = ["LabelStudioConfig", "LabelStudioConnection"]

URL_ENV = "LABEL_STUDIO_URL"
KEY_ENV = "LABEL_STUDIO_API_KEY"


def _seconds(value: Any) -> float:
    # Imported here: modqueue.config imports this module.
    from modqueue.config import parse_duration

    return parse_duration(value)


class LabelStudioConfig(BaseModel):
    """`[labelstudio]`: which queues go to Label Studio, how much of them, and how."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str | None = Field(default=None, pattern=r"^https?://")
    queues: list[str] = Field(default_factory=list)
    share: float = Field(default=1.0, ge=0.0, le=1.0)
    batch_size: int = Field(default=500, ge=1, le=10_000)
    lease: float = 7 * 86_400.0
    timeout_s: float = Field(default=60.0, gt=0)
    max_attempts: int = Field(default=5, ge=1, le=100)
    backoff_s: float = Field(default=0.5, ge=0.0, le=60.0)
    project_prefix: str = Field(default="modqueue", min_length=1, max_length=100)
    max_response_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    push_every: float = 60.0
    pull_every: float = 30.0

    @field_validator("lease", "push_every", "pull_every", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> float:
        return _seconds(value)

    @field_validator("queues")
    @classmethod
    def _no_senior(cls, value: list[str]) -> list[str]:
        for queue in value:
            if not queue or queue.endswith(":senior"):
                raise ValueError(f"queue {queue!r}: senior queues stay with the senior moderators")
        return value


@dataclass(frozen=True)
class LabelStudioConnection:
    """Where Label Studio is and the key to use; `repr` never shows the key."""

    url: str
    api_key: str = field(repr=False)
    timeout_s: float = 60.0
    max_attempts: int = 5
    backoff_s: float = 0.5
    max_response_bytes: int = 64 * 1024 * 1024

    @classmethod
    def from_env(
        cls, config: LabelStudioConfig | None = None, *, environ: dict[str, str] | None = None
    ) -> LabelStudioConnection:
        """Read `LABEL_STUDIO_URL` (or the section's `url`) and `LABEL_STUDIO_API_KEY`.

        Raises `ConfigError` naming the missing variable.
        """
        env = os.environ if environ is None else environ
        url = (env.get(URL_ENV) or (config.url if config else None) or "").strip()
        key = (env.get(KEY_ENV) or "").strip()
        if not url:
            raise ConfigError(f"{URL_ENV} is not set (e.g. http://localhost:8080)")
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"{URL_ENV}={url!r}: expected an http:// or https:// URL")
        if not key:
            raise ConfigError(
                f"{KEY_ENV} is not set: use a legacy token or a personal access token "
                "from Label Studio's account settings"
            )
        cfg = config or LabelStudioConfig()
        return cls(
            url=url.rstrip("/"),
            api_key=key,
            timeout_s=cfg.timeout_s,
            max_attempts=cfg.max_attempts,
            backoff_s=cfg.backoff_s,
            max_response_bytes=cfg.max_response_bytes,
        )
