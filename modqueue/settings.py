"""Process-wide settings from the environment (`MODQUEUE_*`), failing fast on bad values."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from modqueue._exceptions import ConfigError

__all__ = ["Settings", "load_settings", "normalise_database_url"]

DEFAULT_DATABASE_URL = "sqlite:///modqueue.db"


def normalise_database_url(url: str) -> str:
    """Return `url` with the driver modqueue uses, or raise `ConfigError`.

    `postgres://` and `postgresql://` become `postgresql+psycopg://`; `sqlite:///path` stays.
    """
    url = url.strip()
    if not url:
        raise ConfigError("database URL is empty")
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ConfigError(
            f"database URL {url!r} has no scheme: use sqlite:///path.db or postgresql://..."
        )
    scheme = scheme.lower()
    if scheme in ("postgres", "postgresql", "postgresql+psycopg"):
        return f"postgresql+psycopg://{rest}"
    if scheme in ("sqlite", "sqlite+pysqlite"):
        return f"sqlite://{rest}"
    raise ConfigError(
        f"database URL scheme {scheme!r} is not supported: use sqlite:///path.db or "
        "postgresql://user:password@host/dbname"
    )


class Settings(BaseSettings):
    """modqueue's settings, read from `MODQUEUE_*` environment variables."""

    model_config = SettingsConfigDict(env_prefix="MODQUEUE_", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    # A read replica (or any copy) for read-only work: dashboard, stats, exports, reports,
    # audit verification (MODQUEUE_READ_DATABASE_URL). Unset: everything uses database_url.
    read_database_url: str | None = None
    guidelines: Path | None = None
    lease_seconds: int = Field(default=300, ge=10, le=86_400)
    sqlite_busy_timeout_ms: int = Field(default=30_000, ge=0, le=600_000)
    # Default share of primary decisions sent to a blind second review when no
    # `[quality]` configuration is given (MODQUEUE_SECOND_REVIEW_SHARE).
    second_review_share: float = Field(default=0.10, ge=0.0, le=1.0)

    @field_validator("database_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        try:
            return normalise_database_url(value)
        except ConfigError as exc:
            raise ValueError(str(exc)) from exc

    @field_validator("read_database_url")
    @classmethod
    def _check_read_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        try:
            return normalise_database_url(value)
        except ConfigError as exc:
            raise ValueError(str(exc)) from exc

    @field_validator("guidelines")
    @classmethod
    def _check_guidelines(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_dir():
            raise ValueError(f"guidelines folder {str(value)!r} does not exist")
        return value


def load_settings(**overrides: Any) -> Settings:
    """Read the settings, applying non-None `overrides`; raise `ConfigError` on a bad value."""
    clean = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**clean)
    except ValidationError as exc:
        problems = "; ".join(
            f"MODQUEUE_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"bad setting: {problems}") from None
