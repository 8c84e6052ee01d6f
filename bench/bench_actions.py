"""Actions delivered per second: modqueue's dispatcher against a plain httpx loop.

Both send the same 10,000 signed POSTs to the same local endpoint (a minimal asyncio HTTP/1.1
server in its own process that checks each signature and answers `{"status": "done"}`), with the
same concurrency. The dispatcher also claims the actions from the outbox in batches and
records every outcome with its audit event; the plain loop does no bookkeeping at all.

    .venv/bin/python -m bench.bench_actions [--db URL] [--actions 10000] [--concurrency 16]

Prints both rates and their ratio (dispatcher / plain loop; 1.0 means no overhead).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import socket
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert, select

from bench.texts import distinct_text
from modqueue.config import PlatformConfig
from modqueue.integrations.actions import (
    ClaimedAction,
    action_body,
    dispatch_due,
    sign,
    verify_signature,
)
from modqueue.queue import Item, OutboundAction, ReviewQueue

SECRET = "bench-secret-0123456789"
SECRET_ENV = "BENCH_ACTIONS_SECRET"


REPLY = b'{"status":"done","reference":"r-1"}'
DENIED = b'{"error":"bad signature"}'


async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A minimal HTTP/1.1 keep-alive endpoint: check the signature, answer done."""
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            headers = {}
            for line in head.split(b"\r\n")[1:]:
                if b":" in line:
                    name, _, value = line.partition(b":")
                    headers[name.strip().lower()] = value.strip().decode()
            body = await reader.readexactly(int(headers.get(b"content-length", "0")))
            ok = verify_signature(SECRET, body, headers.get(b"x-modqueue-signature"))
            reply = REPLY if ok else DENIED
            status = b"200 OK" if ok else b"401 Unauthorized"
            writer.write(
                b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\n"
                b"Content-Length: " + str(len(reply)).encode() + b"\r\n\r\n" + reply
            )
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


def _serve(port: int) -> None:
    async def run() -> None:
        server = await asyncio.start_server(_handle, "127.0.0.1", port, backlog=256)
        async with server:
            await server.serve_forever()

    asyncio.run(run())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_listening(port: int, server: BaseProcess) -> None:
    """Wait for the spawned server (its interpreter imports modqueue first: tens of
    seconds on a loaded machine)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and server.is_alive():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"bench server did not listen on {port} (exit code {server.exitcode})")


def _fill_outbox(queue: ReviewQueue, n: int, run: int) -> list[ClaimedAction]:
    """n decided items and their pending actions, inserted in bulk (the bench measures
    delivery, not deciding)."""
    now = datetime.now(UTC)
    items = [
        {
            "source": "bench",
            "external_id": f"run{run}-post-{i}",
            "text": distinct_text(i, "synthetic post"),
            "policy": "people-smuggling",
        }
        for i in range(n)
    ]
    report = queue.enqueue(items, batch_size=2000)
    assert not report.rejected, report.rejected[:3]

    def work(session: Any) -> list[ClaimedAction]:
        rows = session.execute(
            select(Item.id, Item.external_id).where(  # type: ignore[call-overload]
                Item.external_id.like(f"run{run}-post-%")  # type: ignore[attr-defined]
            )
        ).all()
        values = [
            {
                "item_id": item_id,
                "action": "remove",
                "source": "bench",
                "external_id": ext,
                "policy": "people-smuggling",
                "label": "remove-fake-documents",
                "reason": "Remove offer of forged or stolen identity documents",
                "idempotency_key": uuid.uuid4().hex,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
                "updated_at": now,
            }
            for item_id, ext in rows
        ]
        session.execute(insert(OutboundAction), values)
        return [
            ClaimedAction(
                id=0,
                attempts=1,
                idempotency_key=v["idempotency_key"],
                action=v["action"],
                source=v["source"],
                external_id=v["external_id"],
                policy=v["policy"],
                label=v["label"],
                reason=v["reason"],
                decided_at=now,
            )
            for v in values
        ]

    return queue.run(work)


async def _plain_loop(url: str, actions: list[ClaimedAction], concurrency: int) -> float:
    """The baseline: the same signed POSTs through one httpx.AsyncClient, no bookkeeping."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    semaphore = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(limits=limits, trust_env=False) as client:

        async def send(action: ClaimedAction) -> None:
            body = action_body(action)
            headers = {
                "Content-Type": "application/json",
                "Idempotency-Key": action.idempotency_key,
                "X-Modqueue-Signature": sign(SECRET, body),
            }
            async with semaphore:
                response = await client.post(url, content=body, headers=headers, timeout=10)
            assert response.status_code == 200, response.text
            assert json.loads(response.content)["status"] == "done"

        started = time.perf_counter()
        await asyncio.gather(*(send(a) for a in actions))
        return time.perf_counter() - started


def _dispatch(queue: ReviewQueue, cfg: PlatformConfig, batch_size: int, n: int) -> float:
    started = time.perf_counter()
    report = dispatch_due(queue, {"bench": cfg}, batch_size=batch_size, env={SECRET_ENV: SECRET})
    elapsed = time.perf_counter() - started
    assert report.done == n, report.to_dict()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="database URL (default: a SQLite file in a temp folder)")
    parser.add_argument("--actions", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    port = _free_port()
    server = multiprocessing.get_context("spawn").Process(target=_serve, args=(port,), daemon=True)
    server.start()
    _wait_listening(port, server)
    url = f"http://127.0.0.1:{port}/actions"
    tmp = tempfile.TemporaryDirectory()
    db = args.db or f"sqlite:///{Path(tmp.name) / 'bench.db'}"
    cfg = PlatformConfig(
        action_url=url,
        secret_env=SECRET_ENV,
        timeout_s=10,
        concurrency=args.concurrency,
        max_attempts=3,
    )
    plain_rates: list[float] = []
    dispatch_rates: list[float] = []
    try:
        with ReviewQueue(db) as queue:
            backend = queue.engine.dialect.name
            for run in range(args.rounds):
                actions = _fill_outbox(queue, args.actions, run)
                plain = asyncio.run(_plain_loop(url, actions, args.concurrency))
                plain_rates.append(args.actions / plain)
                dispatched = _dispatch(queue, cfg, args.batch_size, args.actions)
                dispatch_rates.append(args.actions / dispatched)
                print(
                    f"round {run + 1}: plain httpx loop {args.actions / plain:,.0f}/s "
                    f"({plain:.2f}s), modqueue dispatch {args.actions / dispatched:,.0f}/s "
                    f"({dispatched:.2f}s)",
                    flush=True,
                )
    finally:
        server.terminate()
        server.join(5)
        tmp.cleanup()
    plain_med = statistics.median(plain_rates)
    dispatch_med = statistics.median(dispatch_rates)
    print(
        f"\n{backend}: {args.actions:,} actions, concurrency {args.concurrency}, batch "
        f"{args.batch_size}, {os.cpu_count()} CPUs"
    )
    print(f"plain httpx loop (baseline): {plain_med:,.0f} actions/s")
    print(f"modqueue dispatch_due:       {dispatch_med:,.0f} actions/s")
    print(f"ratio dispatch / baseline:   {dispatch_med / plain_med:.2f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
