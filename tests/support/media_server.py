"""A real loopback HTTP server of media files, for the media fetcher, the `[media]` hash
job and the review screen's images.

`MediaServer()` is a context manager; `server.url("/shape.png")` is a URL on it. Files are
registered with `server.add(path, body, content_type)`; a few paths misbehave on purpose:

- `/slow/<path>`: sends the headers, then one byte every 0.5 s;
- `/redirect?to=<url>`: a 302 to `<url>`;
- anything not registered: 404.
"""

from __future__ import annotations

import io
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from PIL import Image, ImageDraw

__all__ = ["MediaServer", "shape_png"]


def shape_png(size: int = 64, *, colour: str = "red", seed: int = 0) -> bytes:
    """A small PNG of generated shapes (no real photo): a square and a circle."""
    image = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(image)
    offset = seed % (size // 4 or 1)
    draw.rectangle((offset, offset, size // 2 + offset, size // 2), fill=colour)
    draw.ellipse((size // 3, size // 3, size - 2, size - 2), fill="blue")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


class MediaServer:
    """A threading HTTP server on 127.0.0.1, port chosen by the OS."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[bytes, str]] = {}
        self.requests: list[str] = []
        self._stop = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self.close_connection = True
                parts = urlsplit(self.path)
                server.requests.append(parts.path)
                if parts.path == "/redirect":
                    target = parse_qs(parts.query).get("to", ["/"])[0]
                    self.send_response(302)
                    self.send_header("Location", target)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                slow = parts.path.startswith("/slow/")
                path = parts.path[5:] if slow else parts.path
                if path not in server.files:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body, kind = server.files[path]
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    if not slow:
                        self.wfile.write(body)
                        return
                    for byte in body:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        if server._stop.wait(0.5):
                            return
                except (BrokenPipeError, ConnectionResetError):
                    return

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def host_port(self) -> str:
        """`127.0.0.1:PORT`, the form `[media] allow_hosts` takes."""
        return f"127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def add(self, path: str, body: bytes, content_type: str = "image/png") -> str:
        """Serve `body` at `path`; returns its URL."""
        self.files[path] = (body, content_type)
        return self.url(path)

    def __enter__(self) -> MediaServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()
