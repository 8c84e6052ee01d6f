"""Review screen latency: from the decision key to the next item on screen.

    python -m bench.bench_tui_latency [--db sqlite:///tui-bench.db] [--pg URL]
        [--pending 100000] [--decisions 200]

The PostgreSQL URL comes from `--pg` or `MODQUEUE_TEST_PG_URL`; with neither, only
SQLite runs. For each backend the database is filled with `--pending` pending items
(through `ReviewQueue.enqueue`), then the real `ReviewApp` runs headless (Textual's
pilot, 120x40) and a reviewer presses the first label key `--decisions` times:

* `paced`: after each key the bench waits until the database work is done and the claim
  ahead is in memory (a reviewer reads each item for seconds) before the next key;
* `burst`: keys as fast as the app takes them (the worst case: the reviewer outruns the
  database and sometimes waits for a claim).

* `baseline`: the same app with `claim_ahead = 0` (paced): the next item is claimed only
  after the decision is stored, as a UI without claim-ahead would do.

Latency is measured from posting the key event to the app (no pilot waits) until the
item card shows a different item and the screen has been refreshed after it
(`call_after_refresh`). `db only` is the bare database cost of one decision plus one
claim (`decide` then `claim_next`, synchronous). Ratios are p95 against the baseline
(lower is better).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from typing import Any

from sqlalchemy import func, select
from sqlmodel import col
from textual import events

from bench.bench_queue import reset
from bench.texts import distinct_text
from modqueue.queue import Item, ReviewQueue, make_engine, migrate
from modqueue.tui import TuiConfig
from modqueue.tui.app import ReviewApp
from modqueue.tui.components import ItemCard
from modqueue.tui.screens import ReviewScreen

REVIEWER = "bench-reviewer"


def _item(n: int) -> dict[str, Any]:
    return {
        "source": "bench",
        "external_id": f"t-{n}",
        "text": distinct_text(n, "boat to UK this week, pay on arrival, message the number"),
        "url": f"https://social.example.com/p/{n}",
        "media": [{"kind": "image", "url": f"https://media.example.net/{n}.jpg"}],
        "author": {"id": f"acct-{n % 997}", "handle": f"@travel_{n % 997}"},
        "policy": "people-smuggling",
        "signals": [{"name": "smuggling-clf-v2", "score": (n % 100) / 100}],
        "report_count": n % 50,
        "views": (n * 7919) % 2_000_000,
        "flagged_at": "2026-11-24T08:00:00Z",
    }


def prepare(url: str, pending: int, *, fresh: bool) -> None:
    """Top the database up to `pending` pending bench items (emptied first with `fresh`)."""
    if fresh:
        reset(url)  # the audit log is append-only: start from an empty database
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    started = time.perf_counter()
    with ReviewQueue(url, auto_migrate=False) as queue:
        with queue.session() as s:
            have = s.scalar(select(func.count()).where(col(Item.status) == "pending")) or 0
            total = s.scalar(select(func.count()).where(col(Item.source) == "bench")) or 0
        chunk = 5000
        for start in range(total, total + max(pending - have, 0), chunk):
            stop = min(start + chunk, total + pending - have)
            queue.enqueue((_item(n) for n in range(start, stop)), batch_size=chunk)
        with queue.session() as s:
            count = s.scalar(select(func.count()).where(col(Item.status) == "pending"))
    print(f"  {count:,} pending items ready in {time.perf_counter() - started:.1f}s")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(values: list[float]) -> dict[str, float]:
    """p50/p95/max in milliseconds."""
    ms = [v * 1000 for v in values]
    return {"p50": statistics.median(ms), "p95": _pct(ms, 0.95), "max": max(ms)}


async def decide_and_wait(app: ReviewApp, card: ItemCard) -> None:
    """Press the first label's key and wait until the next item is on screen (shown by
    the card and painted)."""
    before = card.shown_item_id
    painted = asyncio.Event()
    app.post_message(events.Key("1", "1"))
    while card.shown_item_id == before or card.shown_item_id is None:
        await asyncio.sleep(0)
    app.call_after_refresh(painted.set)
    await painted.wait()


async def tui_run(url: str, decisions: int, *, paced: bool, ahead: int = 1) -> list[float]:
    """Seconds from each decision key to the next item on screen."""
    latencies: list[float] = []
    with ReviewQueue(url, auto_migrate=False) as queue:
        config = TuiConfig(claim_ahead=ahead)
        app = ReviewApp(queue=queue, reviewer=REVIEWER, config=config)
        async with app.run_test(size=(120, 40)) as pilot:
            await app.workers.wait_for_complete()
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, ReviewScreen)
            card = screen.query_one(ItemCard)
            for _ in range(decisions):
                started = time.perf_counter()
                await decide_and_wait(app, card)
                latencies.append(time.perf_counter() - started)
                if paced:  # the reviewer reads until the claim ahead is in memory
                    for _ in range(10_000):
                        await app.workers.wait_for_complete()
                        await pilot.pause()
                        if screen.inflight == 0 and len(screen.upcoming) >= ahead:
                            break
            await app.workers.wait_for_complete()
            await pilot.press("q")
            await app.workers.wait_for_complete()
            await pilot.pause()
    return latencies


def baseline_run(url: str, decisions: int) -> list[float]:
    """Seconds a synchronous UI would wait per decision: `decide` then `claim_next`."""
    latencies: list[float] = []
    with ReviewQueue(url, auto_migrate=False) as queue:
        claim = queue.claim_next(REVIEWER)
        for _ in range(decisions):
            assert claim is not None
            started = time.perf_counter()
            queue.decide(claim, "no-violation", origin="bench")
            claim = queue.claim_next(REVIEWER)
            latencies.append(time.perf_counter() - started)
        if claim is not None:
            queue.release(claim)
    return latencies


def bench(
    url: str, label: str, pending: int, decisions: int, *, fresh: bool
) -> dict[str, dict[str, float]]:
    """Every measurement on one backend."""
    print(f"{label}:")
    prepare(url, pending, fresh=fresh)
    results = {
        "db only: decide+claim_next": summary(baseline_run(url, decisions)),
        "baseline: tui, no claim-ahead": summary(
            asyncio.run(tui_run(url, decisions, paced=True, ahead=0))
        ),
        "tui paced (claim-ahead)": summary(asyncio.run(tui_run(url, decisions, paced=True))),
        "tui burst (claim-ahead)": summary(asyncio.run(tui_run(url, decisions, paced=False))),
    }
    base = results["baseline: tui, no claim-ahead"]
    for name, r in results.items():
        print(
            f"  {name:<32} p50 {r['p50']:7.2f} ms  p95 {r['p95']:7.2f} ms  max {r['max']:7.2f} ms"
            f"  ratio p95 {r['p95'] / base['p95']:.2f}"
        )
    return results


def main() -> None:
    """Run the benchmark on SQLite and, when a URL is known, on PostgreSQL."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default="sqlite:///tui-bench.db", help="SQLite URL")
    parser.add_argument("--pg", default=os.environ.get("MODQUEUE_TEST_PG_URL"))
    parser.add_argument("--pending", type=int, default=100_000)
    parser.add_argument("--decisions", type=int, default=200)
    parser.add_argument("--fresh", action="store_true", help="empty the databases first")
    args = parser.parse_args()
    print(f"{args.decisions} decisions, {args.pending:,} pending items, {os.cpu_count()} CPUs")
    bench(args.db, "SQLite", args.pending, args.decisions, fresh=args.fresh)
    if args.pg:
        bench(args.pg, "PostgreSQL", args.pending, args.decisions, fresh=args.fresh)
    else:
        print("PostgreSQL skipped: pass --pg URL or set MODQUEUE_TEST_PG_URL")


if __name__ == "__main__":
    main()
