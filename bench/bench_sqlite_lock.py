"""SQLite writers' lock: the bounded wait (`flock_within`, a helper thread blocks in the
kernel while the caller waits until its deadline) against the plain blocking `flock` it
replaced, side by side in one run.

N processes claim and decide from one SQLite file until the queue is empty. Reported per
variant: items per second and each process's share of the items (fairness: the smallest
and largest share against the even 1/N). The ratio is new / old.

    .venv/bin/python -m bench.bench_sqlite_lock --items 2000 --processes 4 --rounds 2
"""

from __future__ import annotations

import argparse
import fcntl
import multiprocessing as mp
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.texts import distinct_text
from modqueue.quality import QualityConfig
from modqueue.queue import ReviewQueue


def _item(n: int) -> dict[str, Any]:
    return {
        "source": "bench",
        "external_id": f"post-{n}",
        "text": distinct_text(n, "synthetic flagged post"),
        "policy": "people-smuggling",
        "signals": [{"name": "smuggling-clf-v2", "score": 0.5}],
    }


def _blocking(path: str | Path, timeout: float) -> int | None:
    """The old wait: a plain blocking flock, no deadline."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def _worker(url: str, reviewer: str, blocking: bool, out: Any, ready: Any, go: Any) -> None:
    if blocking:
        import modqueue.queue._core.db as db

        setattr(db, "flock_within", _blocking)  # noqa: B010 - the old wait, in this process
    done = 0
    # Like for like: no blind second reviews, so each item is one claim and one decision.
    with ReviewQueue(url, auto_migrate=False, quality=QualityConfig(second_review_share=0.0)) as q:
        with q.session() as s:
            s.connection()
        ready.put(True)
        go.wait()
        while (claim := q.claim_next(reviewer)) is not None:
            q.decide(claim, "no-violation")
            done += 1
    out.put(done)


def _run(items: int, processes: int, blocking: bool) -> tuple[float, list[int]]:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench.db'}"
        with ReviewQueue(url) as q:
            q.enqueue(_item(n) for n in range(items))
        ctx = mp.get_context("spawn")
        out, ready, go = ctx.Queue(), ctx.Queue(), ctx.Event()
        procs = [
            ctx.Process(target=_worker, args=(url, f"r{i}", blocking, out, ready, go))
            for i in range(processes)
        ]
        for p in procs:
            p.start()
        for _ in procs:
            ready.get(timeout=300)
        start = time.perf_counter()
        go.set()
        counts = sorted(out.get(timeout=1800) for _ in procs)
        elapsed = time.perf_counter() - start
        for p in procs:
            p.join(timeout=60)
        return items / elapsed, counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    even = args.items / args.processes
    for round_ in range(1, args.rounds + 1):
        rates = {}
        for name, blocking in (("blocking flock (old)", True), ("flock_within (new)", False)):
            rate, counts = _run(args.items, args.processes, blocking)
            rates[name] = rate
            print(
                f"round {round_} {name:<22} {rate:7.0f} items/s  "
                f"shares min {counts[0] / even:.2f} max {counts[-1] / even:.2f} of even  "
                f"{counts}"
            )
        ratio = rates["flock_within (new)"] / rates["blocking flock (old)"]
        print(f"round {round_} ratio new/old {ratio:.2f}x")


if __name__ == "__main__":
    main()
