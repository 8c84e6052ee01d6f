"""The TOML configuration (`modqueue.toml`): sources, platforms, jobs and the terminal UI.

`load_config()` reads it and fails with a message naming the file, the key and what is
wrong. Each feature owns one section model; this module assembles them.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from modqueue._exceptions import ConfigError
from modqueue._sections.labelstudio import LabelStudioConfig
from modqueue._sections.media import MediaConfig
from modqueue._sections.models import ModelsConfig
from modqueue._sections.tui import TuiConfig
from modqueue.queue import (
    AuthConfig,
    ExposureConfig,
    FloodsConfig,
    QualityConfig,
    RetentionConfig,
    TrustedFlagger,
)
from modqueue.reports import ReportsConfig
from modqueue.sla import DeadlinesConfig

__all__ = [
    "DEFAULT_CONFIG_NAME",
    "FeedSourceConfig",
    "FolderSourceConfig",
    "JobConfig",
    "ModqueueConfig",
    "PlatformConfig",
    "load_config",
    "parse_duration",
    "parse_size",
]

DEFAULT_CONFIG_NAME = "modqueue.toml"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(b|kb|kib|mb|mib|gb|gib)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {
    None: 1,
    "b": 1,
    "kb": 1000,
    "kib": 1024,
    "mb": 1000**2,
    "mib": 1024**2,
    "gb": 1000**3,
    "gib": 1024**3,
}
MIB = 1024 * 1024


def parse_duration(value: str | int | float) -> float:
    """Seconds in a duration such as `"30s"`, `"1m"`, `"2h"`, `"1.5d"` or a bare number."""
    if isinstance(value, bool):
        raise ValueError(f"invalid duration {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(value)
        if not match:
            raise ValueError(f"invalid duration {value!r}: use e.g. 30s, 1m, 2h")
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds <= 0:
        raise ValueError(f"duration {value!r} must be positive")
    return seconds


def parse_size(value: str | int) -> int:
    """Bytes in a size such as `"32MiB"`, `"512 KiB"`, `"1GB"` or a bare number of bytes."""
    if isinstance(value, bool | float):
        raise ValueError(f"invalid size {value!r}: use e.g. 1048576, 512KiB, 32MiB")
    if isinstance(value, int):
        size = value
    else:
        match = _SIZE.match(value)
        if not match:
            raise ValueError(f"invalid size {value!r}: use e.g. 1048576, 512KiB, 32MiB")
        unit = match.group(2).lower() if match.group(2) else None
        size = int(float(match.group(1)) * _SIZE_UNITS[unit])
    if size <= 0:
        raise ValueError(f"size {value!r} must be positive")
    return size


Size = Annotated[int, BeforeValidator(parse_size)]
Duration = Annotated[float, BeforeValidator(parse_duration)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Every(_Section):
    every: float = 60.0

    @field_validator("every", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> float:
        return parse_duration(value)


class _SourceBase(_Every):
    """What every source may declare: that it is a trusted flagger.

    `trusted_flagger` names the organisation (e.g. a police referral unit); its items get
    `trusted_boost` priority points and a deadline of `trusted_sla` (default: half the
    policy's SLA; never later than the policy's), and reports count them apart.
    """

    trusted_flagger: str | None = Field(default=None, min_length=1, max_length=200)
    trusted_boost: float = Field(default=25.0, ge=0, le=1000)
    trusted_sla: Duration | None = None

    def flagger(self) -> TrustedFlagger | None:
        """The trusted-flagger settings of this source, or None."""
        if self.trusted_flagger is None:
            return None
        hours = None if self.trusted_sla is None else self.trusted_sla / 3600.0
        return TrustedFlagger(self.trusted_flagger, self.trusted_boost, hours)


class _Notify(_SourceBase):
    """Feedback to the notifier (see docs/reports.md): `notify_url` receives a signed
    acknowledgement of each item this source sends (matched by the items' `source`) and,
    later, its outcome; `notify_secret_env` names the variable holding the signing
    secret; `notify_timeout_s` and `notify_max_attempts` bound each request and the
    retries. Delivery uses the outbox, like a platform's actions."""

    notify_url: str | None = Field(default=None, pattern=r"^https?://")
    notify_secret_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    notify_timeout_s: float = Field(default=10.0, gt=0)
    notify_max_attempts: int = Field(default=8, ge=1, le=1000)

    @model_validator(mode="after")
    def _notify_pair(self) -> _Notify:
        if (self.notify_url is None) != (self.notify_secret_env is None):
            raise ValueError("notify_url and notify_secret_env go together: set both or neither")
        return self


class FeedSourceConfig(_Notify):
    """`kind = "http"`: a paged JSON feed, `GET url?cursor=C`.

    `timeout_s` bounds each read; `request_deadline_s` the whole request (connection,
    headers, body); `max_page_bytes` a page's body, counted after decompression.
    """

    kind: Literal["http"]
    url: str = Field(pattern=r"^https?://")
    token_env: str | None = None
    timeout_s: float = Field(default=10.0, gt=0)
    max_attempts: int = Field(default=5, ge=1, le=100)
    page_limit: int = Field(default=100, ge=1, le=100_000)
    backoff_s: float = Field(default=1.0, ge=0)
    backoff_max_s: float = Field(default=60.0, ge=0)
    max_page_bytes: Size = Field(default=32 * MIB, ge=1024)
    request_deadline_s: Duration = Field(default=120.0, gt=0)


class FolderSourceConfig(_Notify):
    """`kind = "folder"`: JSONL files dropped into a folder; a file over
    `max_file_bytes` is moved to `rejected/` unread."""

    kind: Literal["folder"]
    path: Path
    settle_s: float = Field(default=1.0, ge=0)
    max_file_bytes: Size = Field(default=64 * MIB, ge=1)


class PlatformConfig(_Section):
    """Where a platform (an item's `source`) takes takedown actions.

    `secret_env` names the environment variable holding the signing secret (the secret
    itself never appears in the file). `status_url` may contain `{reference}`.
    `lease_s` is how long a claimed action stays reserved to one dispatcher (default:
    computed from the batch, `timeout_s`, `concurrency` and `rate_per_s`);
    `backoff_base_s`/`backoff_max_s` shape the retry delays; `status_poll_s` is how often
    a `pending` outcome is asked about again. `timeout_s` bounds each step of a request
    (connecting, sending, each read), `request_deadline_s` the whole exchange (to the
    reply's last byte) and `max_reply_bytes` the reply's decoded body.
    """

    action_url: str = Field(pattern=r"^https?://")
    secret_env: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    timeout_s: float = Field(default=10.0, gt=0)
    max_attempts: int = Field(default=8, ge=1, le=1000)
    concurrency: int = Field(default=16, ge=1, le=1000)
    rate_per_s: float | None = Field(default=None, gt=0)
    status_url: str | None = Field(default=None, pattern=r"^https?://")
    lease_s: float | None = Field(default=None, gt=0)
    backoff_base_s: float = Field(default=2.0, gt=0)
    backoff_max_s: float = Field(default=3600.0, gt=0)
    status_poll_s: float = Field(default=600.0, gt=0)
    max_reply_bytes: Size = Field(default=MIB, ge=1024)
    request_deadline_s: Duration = Field(default=30.0, gt=0)


class JobConfig(_Every):
    """Overrides for a scheduler job: how often it runs, or `enabled = false`."""

    enabled: bool = True


class ModqueueConfig(_Section):
    """The whole `modqueue.toml`."""

    sources: dict[
        str, Annotated[FeedSourceConfig | FolderSourceConfig, Field(discriminator="kind")]
    ] = Field(default_factory=dict)
    platforms: dict[str, PlatformConfig] = Field(default_factory=dict)
    jobs: dict[str, JobConfig] = Field(default_factory=dict)
    labelstudio: LabelStudioConfig | None = None
    deadlines: DeadlinesConfig = Field(default_factory=DeadlinesConfig)
    auth: AuthConfig = Field(default_factory=AuthConfig)
    quality: QualityConfig = Field(default_factory=QualityConfig)
    tui: TuiConfig = Field(default_factory=TuiConfig)
    models: ModelsConfig = Field(default_factory=ModelsConfig)
    media: MediaConfig = Field(default_factory=MediaConfig)
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    exposure: ExposureConfig = Field(default_factory=ExposureConfig)
    reports: ReportsConfig = Field(default_factory=ReportsConfig)
    floods: FloodsConfig = Field(default_factory=FloodsConfig)
    path: Path | None = None

    def trusted_flaggers(self) -> dict[str, TrustedFlagger]:
        """The sources declared trusted flaggers, by source name."""
        found = {name: src.flagger() for name, src in self.sources.items()}
        return {name: flagger for name, flagger in found.items() if flagger is not None}


def _format_errors(path: Path, exc: ValidationError) -> str:
    lines = []
    for err in exc.errors(include_url=False):
        loc = [str(p) for p in err["loc"] if not str(p).startswith(("FeedSource", "FolderSource"))]
        if len(loc) > 2 and loc[0] == "sources" and loc[2] in ("http", "folder"):
            del loc[2]  # the `kind` tag of the discriminated union
        key = ".".join(loc) or "(top level)"
        msg = err["msg"]
        if err["type"] == "union_tag_not_found":
            msg = 'kind is missing: set kind = "http" or kind = "folder"'
        lines.append(f"{path}: {key}: {msg}")
    return "\n".join(lines)


def load_config(path: Path | None = None, *, required: bool = False) -> ModqueueConfig:
    """Read `path` (default: `modqueue.toml` in the working folder, if present).

    Raises `ConfigError` naming the file, the key and the problem.
    """
    explicit = path is not None
    target = path or Path(DEFAULT_CONFIG_NAME)
    if not target.exists():
        if explicit or required:
            raise ConfigError(f"{target}: configuration file not found")
        return ModqueueConfig()
    try:
        data = tomllib.loads(target.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{target}: invalid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{target}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        return ModqueueConfig.model_validate({**data, "path": target})
    except ValidationError as exc:
        raise ConfigError(_format_errors(target, exc)) from None
