"""The `[media]` section of `modqueue.toml`: how modqueue fetches media from item URLs."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

__all__ = ["DEFAULT_MEDIA_TYPES", "MediaConfig"]

DEFAULT_MEDIA_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")


def _size(value: Any) -> int:
    from modqueue.config import parse_size

    return parse_size(value)


def _seconds(value: Any) -> float:
    from modqueue.config import parse_duration

    return parse_duration(value)


class MediaConfig(BaseModel):
    """`[media]`: the safe media fetcher, used to hash images and to show them.

    ```toml
    [media]
    max_bytes = "10MiB"             # a bigger image is refused (counted after decompression)
    deadline = "10s"                # for the whole exchange, redirects included
    content_types = ["image/jpeg", "image/png", "image/gif", "image/webp"]
    max_redirects = 3
    allow_private_addresses = false # loopback, private, link-local, CGNAT ... refused
    allow_hosts = []                # "host:port" exceptions, e.g. a local CDN mirror
    ```

    Only addresses that are globally routable are fetched unless
    `allow_private_addresses` is set: an item URL cannot make modqueue reach the
    machines beside it (SSRF). `allow_hosts` lets exactly the named `host:port` pairs
    through, whatever they resolve to.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    max_bytes: Annotated[int, BeforeValidator(_size)] = Field(
        default=10 * 1024 * 1024, ge=1024, le=512 * 1024 * 1024
    )
    deadline_s: Annotated[float, BeforeValidator(_seconds)] = Field(
        default=10.0, gt=0, le=600, alias="deadline"
    )
    content_types: tuple[str, ...] = Field(default=DEFAULT_MEDIA_TYPES, min_length=1)
    max_redirects: int = Field(default=3, ge=0, le=10)
    allow_private_addresses: bool = False
    allow_hosts: tuple[str, ...] = ()

    @field_validator("content_types")
    @classmethod
    def _media_types(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for kind in value:
            if not kind.startswith("image/") or "/" in kind[6:] or len(kind) < 7:
                raise ValueError(f"{kind!r} is not an image media type (image/...)")
        return tuple(k.lower() for k in value)

    @field_validator("allow_hosts")
    @classmethod
    def _host_ports(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            host, sep, port = entry.rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"{entry!r} is not host:port")
        return tuple(v.lower() for v in value)
