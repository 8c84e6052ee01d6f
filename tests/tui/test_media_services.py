"""What the media panel stands on, without Textual: the `media_revealed` audit event
(SQLite and PostgreSQL), `media[].thumbnail_url` in the item format, `[tui] media_view`,
decoding and protecting images in memory, and the demo's sample images."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image
from sqlmodel import select

from modqueue._exceptions import ConfigError
from modqueue.config import load_config
from modqueue.guidelines import MediaView
from modqueue.integrations.media import (
    SAMPLE_MEDIA_HOST,
    MediaConfig,
    sample_fetcher,
    sample_image,
    sniff_image_type,
)
from modqueue.queue import (
    MEDIA_REVEALED,
    Item,
    ReviewQueue,
    check_item,
    record_media_reveal,
    verify_chain,
)
from modqueue.tui.components.media_image import MAX_SIDE, prepare_image, protect
from tests.conftest import Clock, make_item
from tests.support.media_server import MediaServer, shape_png
from tests.tui.conftest import events
from tests.tui.media_support import colours, is_grey


def test_media_reveal_is_an_audit_event_in_the_chain(
    seeded_queue: ReviewQueue, clock: Clock
) -> None:
    claim = seeded_queue.claim_next("bob")
    assert claim is not None
    seeded_queue.run(
        lambda s: record_media_reveal(
            s,
            claim=claim,
            now=clock(),
            policy="people-smuggling",
            media_kind="image",
            protection="blurred",
        )
    )
    seeded_queue.run(
        lambda s: record_media_reveal(
            s,
            claim=claim,
            now=clock(),
            policy="people-smuggling",
            media_kind="video",
            protection="hidden",
            media_index=1,
        )
    )
    assert events(seeded_queue, MEDIA_REVEALED) == [
        (
            claim.item_id,
            {
                "item_id": claim.item_id,
                "policy": "people-smuggling",
                "media_kind": "image",
                "protection": "blurred",
                "media_index": 0,
            },
        ),
        (
            claim.item_id,
            {
                "item_id": claim.item_id,
                "policy": "people-smuggling",
                "media_kind": "video",
                "protection": "hidden",
                "media_index": 1,
            },
        ),
    ]
    assert seeded_queue.read(lambda s: verify_chain(s)).ok
    with pytest.raises(ValueError, match="media_kind must be 'image' or 'video'"):
        seeded_queue.run(
            lambda s: record_media_reveal(
                s,
                claim=claim,
                now=clock(),
                policy="people-smuggling",
                media_kind="audio",  # type: ignore[arg-type]
                protection="blurred",
            )
        )
    assert len(events(seeded_queue, MEDIA_REVEALED)) == 2


def test_a_video_thumbnail_is_stored_and_must_be_http(review_queue: ReviewQueue) -> None:
    video = {"kind": "video", "url": "https://v.example.org/1.mp4"}
    report = review_queue.enqueue(
        [
            make_item(1, media=[{**video, "thumbnail_url": "https://v.example.org/1.jpg"}]),
            make_item(2, media=[video]),
            make_item(3, media=[{**video, "thumbnail_url": "file:///etc/passwd"}]),
        ]
    )
    assert report.new == 2
    [(line, reason)] = [(r.position, r.reason) for r in report.rejected]
    assert line == 2 and "media.0.thumbnail_url" in reason
    with review_queue.session() as s:
        stored = {i.external_id: i.media for i in s.exec(select(Item)).all()}
    assert stored["post-1"] == [{**video, "thumbnail_url": "https://v.example.org/1.jpg"}]
    assert stored["post-2"] == [video]  # no `thumbnail_url: null` written for the others
    item, empty = check_item(
        make_item(4, media=[{**video, "thumbnail_url": ""}]), guidelines=review_queue.guidelines
    )
    assert item is None and empty is not None and "thumbnail_url" in empty


def test_tui_media_view_from_toml(tmp_path: Path) -> None:
    path = tmp_path / "modqueue.toml"
    path.write_text('[tui]\nmedia_view = "hidden"\nimage_protocol = "halfcell"\n')
    tui = load_config(path).tui
    assert (tui.media_view, tui.image_protocol) == (MediaView.HIDDEN, "halfcell")
    assert load_config(None).tui.media_view is None  # each policy's own view
    path.write_text('[tui]\nmedia_view = "blurry"\n')
    with pytest.raises(ConfigError, match=r"tui\.media_view"):
        load_config(path)


def test_prepare_image_protects_in_memory() -> None:
    prepared = prepare_image(shape_png(64, colour="red"), MediaView.BLURRED)
    assert prepared.clear.getpixel((8, 8)) == (255, 0, 0)
    assert is_grey(prepared.protected) and colours(prepared.protected) > 1
    greyscale = prepare_image(shape_png(64), MediaView.GREYSCALE).protected
    assert is_grey(greyscale)
    # greyscale keeps the edges; blurred does not
    assert colours(greyscale) < colours(prepared.protected)
    assert protect(prepared.clear, MediaView.CLEAR) is prepared.clear


def test_prepare_image_refuses_what_is_not_a_sane_image() -> None:
    with pytest.raises(ValueError, match="not a readable image"):
        prepare_image(b"\x89PNG\r\n\x1a\nnot really", MediaView.BLURRED)
    huge = Image.new("1", (10_000, 5_000))
    out = io.BytesIO()
    huge.save(out, format="PNG")
    with pytest.raises(ValueError, match="over the 40,000,000-pixel limit"):
        prepare_image(out.getvalue(), MediaView.BLURRED)
    big = Image.new("RGB", (2000, 1000), "white")
    out = io.BytesIO()
    big.save(out, format="JPEG")
    assert max(prepare_image(out.getvalue(), MediaView.CLEAR).clear.size) == MAX_SIDE


def test_demo_sample_images_come_from_memory_and_others_from_the_safe_fetcher() -> None:
    png, kind = sample_image("/demo.png")
    assert (kind, sniff_image_type(png)) == ("image/png", "image/png")
    jpeg, kind = sample_image("/3301-poster.jpg")
    assert (kind, sniff_image_type(jpeg)) == ("image/jpeg", "image/jpeg")
    assert sample_image("/3301-poster.jpg") == (jpeg, kind)  # the same picture each time

    with MediaServer() as server:
        server.add("/x.png", shape_png())
        fetch = sample_fetcher(MediaConfig())
        got = fetch(f"https://{SAMPLE_MEDIA_HOST}/3301-poster.jpg")
        assert (got.content, got.content_type) == (jpeg, "image/jpeg")
        assert server.requests == []
        with pytest.raises(Exception, match="not a public address"):
            fetch(server.url("/x.png"))  # still refused: the demo opens nothing else
        assert server.requests == []
        allowed = sample_fetcher(MediaConfig(allow_hosts=(server.host_port,)))
        assert allowed(server.url("/x.png")).content == shape_png()
