"""Peak memory against hostile inputs: `serve --once` on an endless feed, and `ingest` of a
2 GiB line, each against the same command on a normal input in the same run.

Every command runs as its own `python -m modqueue.cli` process on a fresh database; its
peak resident set (RSS high-water mark) is read from `os.wait4()` when it exits.

- serve, normal: one feed source serving `--items` items in pages of 100.
- serve, endless: the same source answering every page with a JSON body that never ends
  (`max_attempts = 2`, `backoff_s = 0.1`, so the run is short: every attempt reads up to
  the 32 MiB `max_page_bytes` default and gives up).
- ingest, normal: `modqueue ingest -` of `--items` items on stdin.
- ingest, 2 GiB line: a good line, a 2 GiB line and a good line on stdin, written 1 MiB
  at a time by this process (which never holds the line either).

    .venv/bin/python -m bench.bench_bounded [--items 2000] [--line-gib 2]
        [--pg postgresql://...]   # a PostgreSQL database instead of SQLite (wiped)

Prints a markdown table: peak RSS in MiB, and the ratio to the normal run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from bench.texts import distinct_text

CHUNK = b'{"external_id": "endless", "text": "' + b"x" * 65_000 + b'"}, '
MIB = 1024 * 1024


def items(n: int) -> list[dict[str, Any]]:
    return [
        {
            "source": "bench",
            "external_id": f"post-{i}",
            "text": distinct_text(i, "synthetic flagged post with some words in it"),
            "policy": "hate" if i % 2 else None,
            "signals": [{"name": "clf-v2", "score": (i % 100) / 100}],
        }
        for i in range(n)
    ]


class Feed:
    """A feed answering pages of `items`, or (`endless`) a body that never ends."""

    def __init__(self, rows: list[dict[str, Any]], *, endless: bool) -> None:
        self.rows, self.endless, self.stop = rows, endless, threading.Event()
        feed = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self.close_connection = True
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                try:
                    if feed.endless:
                        self.end_headers()
                        self.wfile.write(b'{"items": [')
                        while not feed.stop.is_set():
                            self.wfile.write(CHUNK)
                        return
                    query = self.path.partition("?")[2]
                    params = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
                    start = int(params.get("cursor", "0"))
                    page = feed.rows[start : start + 100]
                    nxt = str(start + len(page)) if page else None
                    body = json.dumps({"items": page, "next": nxt}).encode()
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/flags"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()


def peak_rss_mib(
    args: list[str], *, cwd: Path, feed_stdin: Callable[[int], None] | None
) -> tuple[float, int]:
    """Run `python -m modqueue.cli ARGS`; its peak RSS in MiB and its exit code."""
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(
        [sys.executable, "-m", "modqueue.cli", *args],
        stdin=read_fd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=cwd,
    )
    os.close(read_fd)
    writer = threading.Thread(target=(feed_stdin or os.close), args=(write_fd,), daemon=True)
    writer.start()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    writer.join(timeout=60)
    return usage.ru_maxrss / 1024, proc.returncode  # ru_maxrss is in KiB on Linux


def write_lines(rows: list[dict[str, Any]]) -> Callable[[int], None]:
    def write(fd: int) -> None:
        with os.fdopen(fd, "wb") as out:
            for row in rows:
                out.write(json.dumps(row).encode() + b"\n")

    return write


def write_huge_line(gib: int, rows: list[dict[str, Any]]) -> Callable[[int], None]:
    def write(fd: int) -> None:
        block = b"z" * MIB
        with os.fdopen(fd, "wb") as out:
            try:
                out.write(json.dumps(rows[0]).encode() + b"\n")
                out.write(b'{"source": "bench", "external_id": "huge", "text": "')
                for _ in range(gib * 1024):
                    out.write(block)
                out.write(b'"}\n' + json.dumps(rows[1]).encode() + b"\n")
            except BrokenPipeError:
                pass

    return write


def fresh_db(work: Path, name: str, pg: str | None) -> str:
    if pg is None:
        return f"sqlite:///{work / name}.db"
    engine = create_engine(pg.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()
    return pg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--line-gib", type=int, default=2)
    parser.add_argument("--pg", default=None)
    opts = parser.parse_args()
    rows = items(opts.items)
    results: list[tuple[str, float, int]] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name, endless in (
            ("serve --once, normal feed", False),
            ("serve --once, endless feed", True),
        ):
            feed = Feed(rows, endless=endless)
            config = work / "modqueue.toml"
            config.write_text(
                f'[sources.bench]\nkind = "http"\nurl = "{feed.url}"\n'
                "max_attempts = 2\nbackoff_s = 0.1\n"
            )
            db = fresh_db(work, f"serve-{endless}", opts.pg)
            peak, code = peak_rss_mib(
                ["serve", "--once", "--config", str(config), "--db", db], cwd=work, feed_stdin=None
            )
            feed.close()
            results.append((name, peak, code))
        db = fresh_db(work, "ingest-normal", opts.pg)
        peak, code = peak_rss_mib(
            ["ingest", "-", "--db", db], cwd=work, feed_stdin=write_lines(rows)
        )
        results.append((f"ingest, {opts.items:,} normal lines", peak, code))
        db = fresh_db(work, "ingest-huge", opts.pg)
        peak, code = peak_rss_mib(
            ["ingest", "-", "--db", db], cwd=work, feed_stdin=write_huge_line(opts.line_gib, rows)
        )
        results.append((f"ingest, a {opts.line_gib} GiB line between two good ones", peak, code))
    backend = "PostgreSQL" if opts.pg else "SQLite"
    print(f"| run ({backend}) | exit code | peak RSS (MiB) | ratio to the normal run |")
    print("| --- | --- | --- | --- |")
    for index, (name, peak, code) in enumerate(results):
        base = results[index - index % 2][1]
        print(f"| {name} | {code} | {peak:.0f} | {peak / base:.2f}x |")


if __name__ == "__main__":
    main()
