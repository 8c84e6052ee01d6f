"""The demo's sample images: generated shapes (no photos), made in memory on request.

`modqueue demo` shows its bundled items' media without any network: a URL on
`https://media.example.net/` (a documentation domain, never fetched) is answered here
with a picture drawn from the URL's path; any other URL goes through the safe fetcher.
Nothing is read from or written to disk.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from urllib.parse import urlsplit

from PIL import Image, ImageDraw

from modqueue._sections.media import MediaConfig
from modqueue.integrations.media._fetch import FetchedMedia, fetch_media

__all__ = ["SAMPLE_MEDIA_HOST", "sample_fetcher", "sample_image"]

SAMPLE_MEDIA_HOST = "media.example.net"
"""The host whose URLs the demo answers from memory."""

_COLOURS = ("#d1495b", "#edae49", "#00798c", "#30638e", "#66a182", "#8d6a9f", "#e07a5f")


def sample_image(path: str) -> tuple[bytes, str]:
    """A harmless picture for `path`: coloured shapes chosen by the path's hash, as PNG
    for a `.png` path and JPEG otherwise. Returns the bytes and their content type."""
    seed = hashlib.sha256(path.encode()).digest()
    width, height = 160, 120
    image = Image.new("RGB", (width, height), _COLOURS[seed[0] % len(_COLOURS)])
    draw = ImageDraw.Draw(image)
    x, y = 10 + seed[1] % 40, 10 + seed[2] % 30
    draw.rectangle((x, y, x + 60, y + 45), fill=_COLOURS[seed[3] % len(_COLOURS)])
    cx, cy, r = 90 + seed[4] % 40, 40 + seed[5] % 40, 22 + seed[6] % 12
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=_COLOURS[seed[7] % len(_COLOURS)])
    draw.polygon(
        [(20 + seed[8] % 30, 110), (70 + seed[9] % 30, 110), (45 + seed[10] % 30, 70)],
        fill="white",
    )
    out = io.BytesIO()
    if path.lower().endswith(".png"):
        image.save(out, format="PNG")
        return out.getvalue(), "image/png"
    image.save(out, format="JPEG", quality=85)
    return out.getvalue(), "image/jpeg"


def sample_fetcher(config: MediaConfig) -> Callable[[str], FetchedMedia]:
    """A fetch function for the demo: `https://media.example.net/...` answered with
    `sample_image` (no network), anything else with `fetch_media(url, config=config)`."""

    def fetch(url: str) -> FetchedMedia:
        parts = urlsplit(url)
        if parts.scheme == "https" and parts.netloc == SAMPLE_MEDIA_HOST:
            body, kind = sample_image(parts.path)
            digest = hashlib.sha256(body).hexdigest()
            return FetchedMedia(url=url, content_type=kind, content=body, sha256=digest)
        return fetch_media(url, config=config)

    return fetch
