"""The safe media fetcher against a real loopback server: limits, types, redirects and
the refusal of addresses that are not public (SSRF)."""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from modqueue._exceptions import IntegrationError, MediaRefused, ReplyTooLarge, ReplyTooSlow
from modqueue.config import load_config
from modqueue.integrations.media import (
    MediaConfig,
    fetch_media,
    is_public_address,
    resolve_target,
    sniff_image_type,
)
from tests.support.media_server import MediaServer, shape_png


@pytest.fixture
def server() -> Iterator[MediaServer]:
    with MediaServer() as running:
        yield running


def allowing(server: MediaServer, **settings: object) -> MediaConfig:
    """A config letting exactly this loopback server through (tests only need it because
    the server is on loopback, which is refused by default)."""
    return MediaConfig.model_validate({"allow_hosts": [server.host_port], **settings})


def test_fetches_an_image_into_memory_with_its_digest(server: MediaServer) -> None:
    body = shape_png()
    url = server.add("/shape.png", body)
    fetched = fetch_media(url, config=allowing(server))
    assert fetched.content == body
    assert fetched.content_type == "image/png"
    assert fetched.sha256 == hashlib.sha256(body).hexdigest()
    assert "bytes" in repr(fetched) and str(body[:8]) not in repr(fetched)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata
        "100.64.0.1",  # shared address space (CGNAT)
        "0.0.0.0",
        "224.0.0.1",
        "::1",
        "fe80::1",
        "fc00::1",
        "::ffff:127.0.0.1",
    ],
)
def test_addresses_that_are_not_public_are_refused(address: str) -> None:
    assert not is_public_address(ipaddress.ip_address(address))
    host = f"[{address}]" if ":" in address else address
    with pytest.raises(MediaRefused, match="not a public address"):
        resolve_target(f"http://{host}/x.png", config=MediaConfig())


def test_public_addresses_pass_the_check() -> None:
    for address in ("93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"):
        assert is_public_address(ipaddress.ip_address(address))
    target = resolve_target("https://93.184.216.34/a.png", config=MediaConfig())
    assert (target.address, target.port, target.scheme) == ("93.184.216.34", 443, "https")


def test_loopback_by_name_is_refused_by_default(server: MediaServer) -> None:
    url = server.add("/shape.png", shape_png()).replace("127.0.0.1", "localhost")
    with pytest.raises(MediaRefused, match="localhost"):
        fetch_media(url, config=MediaConfig())
    assert server.requests == []  # refused before any connection


def test_allow_private_addresses_lets_loopback_through(server: MediaServer) -> None:
    url = server.add("/shape.png", shape_png())
    config = MediaConfig(allow_private_addresses=True)
    assert fetch_media(url, config=config).content_type == "image/png"


def test_a_redirect_to_a_private_address_is_refused(server: MediaServer) -> None:
    with MediaServer() as other:
        inner = other.add("/secret.png", shape_png())
        url = server.url(f"/redirect?to={inner}")
        with pytest.raises(MediaRefused, match=str(other.port)):
            fetch_media(url, config=allowing(server))
        assert other.requests == []


def test_redirects_are_followed_within_the_limit(server: MediaServer) -> None:
    final = server.add("/shape.png", shape_png())
    once = server.url(f"/redirect?to={final}")
    assert fetch_media(once, config=allowing(server)).url == final
    with pytest.raises(MediaRefused, match="redirects"):
        fetch_media(once, config=allowing(server, max_redirects=0))


@pytest.mark.parametrize(
    ("body", "kind", "message"),
    [
        (b"<html>hello</html>", "text/html", "text/html is not an allowed image type"),
        (b"<html>hello</html>", "image/png", "its bytes are not an image"),
        (shape_png(), "image/gif", "says image/gif but its bytes are image/png"),
        (shape_png(), "", "no content type"),
    ],
)
def test_content_type_is_checked_against_the_list_and_the_bytes(
    server: MediaServer, body: bytes, kind: str, message: str
) -> None:
    url = server.add("/thing", body, kind)
    with pytest.raises(MediaRefused, match=message):
        fetch_media(url, config=allowing(server))


def test_size_and_time_limits(server: MediaServer) -> None:
    url = server.add("/big.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 5000)
    with pytest.raises(ReplyTooLarge, match=r"\[media\] max_bytes"):
        fetch_media(url, config=allowing(server, max_bytes=2048))
    server.add("/shape.png", shape_png())
    with pytest.raises(ReplyTooSlow, match=r"\[media\] deadline"):
        fetch_media(server.url("/slow/shape.png"), config=allowing(server, deadline="1s"))


def test_http_errors_and_bad_urls(server: MediaServer) -> None:
    with pytest.raises(IntegrationError, match="HTTP 404"):
        fetch_media(server.url("/missing.png"), config=allowing(server))
    with pytest.raises(MediaRefused, match="only http and https"):
        fetch_media("file:///etc/passwd", config=MediaConfig())
    with pytest.raises(MediaRefused, match="credentials"):
        fetch_media("http://user:pw@93.184.216.34/a.png", config=MediaConfig())


def test_sniffing_knows_the_common_image_types() -> None:
    assert sniff_image_type(shape_png()) == "image/png"
    assert sniff_image_type(b"\xff\xd8\xff\xe0rest") == "image/jpeg"
    assert sniff_image_type(b"GIF89a...") == "image/gif"
    assert sniff_image_type(b"RIFF\0\0\0\0WEBPVP8 ") == "image/webp"
    assert sniff_image_type(b"%PDF-1.7") is None


def test_media_section_fails_fast_on_bad_values() -> None:
    for bad, key in [
        ({"content_types": ["text/html"]}, "content_types"),
        ({"allow_hosts": ["localhost"]}, "allow_hosts"),
        ({"max_bytes": 10}, "max_bytes"),
        ({"deadline": "0s"}, "deadline"),
    ]:
        with pytest.raises(ValidationError, match=key):
            MediaConfig.model_validate(bad)


def test_media_section_is_read_from_modqueue_toml(tmp_path: Path) -> None:
    path = tmp_path / "modqueue.toml"
    path.write_text('[media]\nmax_bytes = "2MiB"\nallow_hosts = ["cdn.local:8080"]\n')
    config = load_config(path)
    assert config.media.max_bytes == 2 * 1024 * 1024
    assert config.media.allow_hosts == ("cdn.local:8080",)
