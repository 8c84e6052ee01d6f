"""The pipelined claim's client CPU with its cursors kept between claims against new
cursors for every claim (as before claim7), alternating blocks in one process.

    python -m bench.claim_cursors_ab --db postgresql://... --blocks 10 --per-block 50

Each block claims and releases `--per-block` items (reviewers `mod-0` to `mod-19`) with
one of the two ways, the next block with the other (the order swaps every block). Per
claim it records `time.process_time` (client CPU, steady under load) and wall time;
prints the percentiles of each way with the load averages.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any

import psycopg

from bench.scale import REVIEWERS, open_queue
from modqueue.queue._claims import pipelined


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * share))] * 1000, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", required=True, help="postgresql://... (e.g. the scale database)")
    parser.add_argument("--blocks", type=int, default=10)
    parser.add_argument("--per-block", type=int, default=50)
    args = parser.parse_args()

    kept = pipelined._kept_cursors
    opened: list[Any] = []

    def fresh(_info: dict[Any, Any], driver: Any) -> tuple[Any, Any, Any]:
        for cursor in opened:
            cursor.close()
        opened[:] = [psycopg.RawCursor(driver) for _ in range(3)]
        return opened[0], opened[1], opened[2]

    q = open_queue(args.db)
    for k in range(20):  # warm up: prepared statements, caches
        warm = q.claim_next(REVIEWERS[k % len(REVIEWERS)])
        assert warm is not None
        q.release(warm)
    ways = {"new cursors": fresh, "kept cursors": kept}
    cpu: dict[str, list[float]] = {name: [] for name in ways}
    wall: dict[str, list[float]] = {name: [] for name in ways}
    for block in range(args.blocks):
        order = list(ways) if block % 2 == 0 else list(reversed(ways))
        for name in order:
            pipelined._kept_cursors = ways[name]  # type: ignore[assignment]
            for k in range(args.per_block):
                t0, c0 = time.perf_counter(), time.process_time()
                claim = q.claim_next(REVIEWERS[k % len(REVIEWERS)])
                c1, t1 = time.process_time(), time.perf_counter()
                assert claim is not None
                cpu[name].append(c1 - c0)
                wall[name].append(t1 - t0)
                q.release(claim)
    pipelined._kept_cursors = kept
    q.close()
    print("load average", os.getloadavg())
    for name in ways:
        print(
            f"{name}: {len(cpu[name])} claims, CPU ms p50 {_percentile(cpu[name], 0.5)} "
            f"mean {round(statistics.mean(cpu[name]) * 1000, 3)} p99 {_percentile(cpu[name], 0.99)}"
            f"; wall ms p50 {_percentile(wall[name], 0.5)} p99 {_percentile(wall[name], 0.99)}"
        )


if __name__ == "__main__":
    main()
