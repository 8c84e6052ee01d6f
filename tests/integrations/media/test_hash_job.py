"""The `[media]` hashing job against a real loopback server, on both backends: images
hashed and clustered, failures recorded on the item and not fatal, loopback refused
unless allowed (SSRF)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image, ImageDraw
from sqlalchemy import select
from sqlmodel import col

from modqueue.config import ModqueueConfig
from modqueue.integrations.media import MediaConfig
from modqueue.integrations.media_hashes import hash_pending_media
from modqueue.queue import MAX_FETCH_ATTEMPTS, Item, ItemFingerprint, ReviewQueue, hash_image
from modqueue.scheduler import default_jobs
from tests.conftest import make_item
from tests.support.media_server import MediaServer, shape_png


@pytest.fixture
def server() -> Iterator[MediaServer]:
    with MediaServer() as running:
        yield running


def allowing(server: MediaServer, **settings: object) -> MediaConfig:
    """Only this loopback test server is let through (loopback is refused by default)."""
    return MediaConfig.model_validate({"allow_hosts": [server.host_port], **settings})


def _jpeg_copy(png: bytes) -> bytes:
    """The same picture, resized and re-encoded as JPEG."""
    image = Image.open(io.BytesIO(png)).convert("RGB").resize((200, 200))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=70)
    return out.getvalue()


def _stripes() -> bytes:
    image = Image.new("RGB", (256, 256), "white")
    draw = ImageDraw.Draw(image)
    for x in range(0, 256, 32):
        draw.rectangle((x, 0, x + 15, 255), fill="black")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _image_item(n: int, url: str) -> dict[str, Any]:
    return make_item(n, text=None, media=[{"kind": "image", "url": url}])


def _media(q: ReviewQueue) -> dict[str, tuple[list[dict[str, Any]], int | None]]:
    with q.session() as s:
        return {
            i.external_id: (i.media, i.cluster_id)
            for i in s.scalars(select(Item).order_by(col(Item.id)))
        }


def test_images_are_hashed_and_copies_cluster(
    review_queue: ReviewQueue, server: MediaServer
) -> None:
    q = review_queue
    original = shape_png(256)
    q.enqueue(
        [
            _image_item(1, server.add("/a.png", original)),
            _image_item(2, server.add("/b.jpg", _jpeg_copy(original), "image/jpeg")),
            _image_item(3, server.add("/c.png", _stripes())),
        ]
    )
    report = hash_pending_media(q, allowing(server))
    assert (report.hashed, report.failed) == (3, 0)
    found = _media(q)
    digest, pdq, quality = hash_image(original)
    assert found["post-1"][0][0]["sha256"] == digest
    assert found["post-1"][0][0]["pdq"] == pdq
    assert found["post-1"][0][0]["pdq_quality"] == quality
    assert found["post-1"][1] is not None and found["post-1"][1] == found["post-2"][1]
    assert found["post-3"][1] is None
    # Nothing is left to fetch; a second pass fetches nothing.
    assert hash_pending_media(q, allowing(server)).hashed == 0
    assert len(server.requests) == 3
    with q.session() as s:
        assert "media_pending" not in set(s.scalars(select(col(ItemFingerprint.kind))))


def test_failures_are_recorded_and_not_fatal(
    review_queue: ReviewQueue, server: MediaServer
) -> None:
    q = review_queue
    server.add("/slow.png", shape_png())
    q.enqueue(
        [
            _image_item(1, server.add("/big.png", shape_png(512, seed=3))),
            _image_item(2, server.add("/page.png", b"<html>not an image</html>", "text/html")),
            _image_item(3, server.url("/missing.png")),
            _image_item(4, server.url("/slow/slow.png")),
            _image_item(5, server.add("/fine.png", shape_png(128))),
        ]
    )
    config = allowing(server, max_bytes="2KiB", deadline="1s")
    report = hash_pending_media(q, config)
    assert (report.hashed, report.failed) == (1, 4)
    found = _media(q)
    assert "max_bytes" in found["post-1"][0][0]["fetch_error"]
    assert "fetch_error" in found["post-2"][0][0]
    # A 404 or a timeout may pass: kept for another try, counted, not final yet.
    for key in ("post-3", "post-4"):
        entry = found[key][0][0]
        assert entry["fetch_attempts"] == 1 and "fetch_error" not in entry
    assert "sha256" in found["post-5"][0][0]
    for _ in range(MAX_FETCH_ATTEMPTS - 1):
        hash_pending_media(q, config)
    found = _media(q)
    assert "HTTP 404" in found["post-3"][0][0]["fetch_error"]
    assert found["post-3"][0][0]["fetch_attempts"] == MAX_FETCH_ATTEMPTS
    assert "deadline" in found["post-4"][0][0]["fetch_error"]
    # Not retried forever.
    before = len(server.requests)
    assert hash_pending_media(q, config).failed == 0
    assert len(server.requests) == before


def test_loopback_is_refused_by_default(review_queue: ReviewQueue, server: MediaServer) -> None:
    q = review_queue
    q.enqueue([_image_item(1, server.add("/a.png", shape_png()))])
    report = hash_pending_media(q, MediaConfig())
    assert report.failed == 1
    assert server.requests == []
    error = _media(q)["post-1"][0][0]["fetch_error"]
    assert "127.0.0.1" in error or "not public" in error or "refused" in error


def test_media_job_runs_only_with_a_media_section() -> None:
    assert "media" not in [j.name for j in default_jobs(ModqueueConfig())]
    configured = ModqueueConfig.model_validate({"media": {"max_bytes": "5MiB"}})
    assert "media" in [j.name for j in default_jobs(configured)]
