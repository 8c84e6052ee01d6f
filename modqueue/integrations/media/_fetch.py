"""Fetch one media file into memory, within `[media]`'s limits."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from urllib.parse import urljoin

import httpx

from modqueue._exceptions import IntegrationError, MediaRefused
from modqueue._sections.media import MediaConfig
from modqueue.integrations._bounded_http import ReplyLimits, limited_client, send_limited
from modqueue.integrations.media._address import Target, resolve_target

__all__ = ["FetchedMedia", "fetch_media", "sniff_image_type"]

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


@dataclass(frozen=True, slots=True, repr=False)
class FetchedMedia:
    """A fetched media file, in memory only: the URL it finally came from, its content
    type (checked against the bytes), the bytes, and their SHA-256 (hex)."""

    url: str
    content_type: str
    content: bytes
    sha256: str

    def __repr__(self) -> str:
        return f"FetchedMedia({self.url!r}, {self.content_type}, {len(self.content)} bytes)"


def sniff_image_type(content: bytes) -> str | None:
    """The image type the bytes themselves show (PNG, JPEG, GIF, WebP), or `None`."""
    for magic, kind in _MAGIC:
        if content.startswith(magic):
            return kind
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "image/webp"
    return None


def _request(target: Target) -> httpx.Request:
    shown = f"[{target.host}]" if ":" in target.host else target.host
    address = f"[{target.address}]" if ":" in target.address else target.address
    pinned = httpx.URL(target.url).copy_with(host=address.strip("[]"))
    default_port = 443 if target.scheme == "https" else 80
    host_header = shown if target.port == default_port else f"{shown}:{target.port}"
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    return httpx.Request(
        "GET",
        pinned,
        headers={"Host": host_header, "Accept": "image/*", "User-Agent": "modqueue-media"},
        extensions=extensions,
    )


def _content_type(response: httpx.Response, config: MediaConfig, url: str) -> str:
    header: str = response.headers.get("content-type", "")
    declared = header.split(";", 1)[0].strip().lower()
    if declared not in config.content_types:
        shown = declared or "no content type"
        raise MediaRefused(f"{url}: {shown} is not an allowed image type ([media] content_types)")
    sniffed = sniff_image_type(response.content)
    if sniffed != declared:
        raise MediaRefused(
            f"{url}: the reply says {declared} but its bytes are "
            f"{sniffed or 'not an image modqueue knows'}"
        )
    return declared


def fetch_media(
    url: str, *, config: MediaConfig, client: httpx.Client | None = None
) -> FetchedMedia:
    """Fetch `url` into memory within `config`'s limits and return it.

    Every hop of a redirect is checked like the first URL. Nothing is written to disk.

    Raises:
    - `MediaRefused`: an address that is not public, a URL that is not http(s), a type
      that is not an allowed image (declared or sniffed), too many redirects;
    - `ReplyTooLarge` / `ReplyTooSlow`: over `max_bytes` or `deadline`;
    - `IntegrationError`: any other failure (connection refused, HTTP 404 or 5xx).
    """
    limits = ReplyLimits(
        max_bytes=config.max_bytes,
        deadline_s=config.deadline_s,
        bytes_setting="[media] max_bytes",
        deadline_setting="[media] deadline",
    )
    own = client is None
    http = client if client is not None else limited_client(follow_redirects=False)
    try:
        current = url
        for _hop in range(config.max_redirects + 1):
            target = resolve_target(current, config=config)
            try:
                response = send_limited(http, _request(target), limits)
            except httpx.HTTPError as exc:
                raise IntegrationError(f"{current}: {type(exc).__name__}: {exc}") from None
            if response.status_code in _REDIRECTS and "location" in response.headers:
                current = urljoin(current, response.headers["location"])
                continue
            if response.status_code != 200:
                raise IntegrationError(f"{current}: HTTP {response.status_code}")
            kind = _content_type(response, config, current)
            body = response.content
            return FetchedMedia(
                url=current,
                content_type=kind,
                content=body,
                sha256=hashlib.sha256(body).hexdigest(),
            )
        raise MediaRefused(
            f"{url}: more than {config.max_redirects} redirects ([media] max_redirects)"
        )
    finally:
        if own:
            http.close()
