"""Client CPU and wall time of `claim_next`, call by call, and where the CPU goes: the
figures that say most on a loaded machine (CPU seconds do not grow with the load).

    python bench/claim_cpu.py --db postgresql://sb:sbpw@127.0.0.1:5441/scale10m \\
        [--claims 600] [--reviewers mod] [--profile 30]

Claims `--claims` items one by one (20 reviewers `--reviewers`-0.., every queue but the
senior ones), each released outside the timing, and prints one JSON line: wall and CPU
(`time.process_time`) p50/p90/p99, the first call apart (compilation, connection), and
the garbage collections that ran during the calls (their generation and length). With
`--profile N`, a `cProfile` of the claims (CPU timer) follows, its N costliest
functions by cumulative time. To compare with another commit, run it with that
commit's code first on `PYTHONPATH`, alternating.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import os
import pstats
import time
from datetime import UTC, datetime
from typing import Any

from modqueue.queue import ReviewQueue
from modqueue.settings import load_settings


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))], 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--claims", type=int, default=600)
    parser.add_argument("--reviewers", default="mod", help="reviewer name prefix")
    parser.add_argument("--profile", type=int, default=0, help="print the top N functions")
    args = parser.parse_args()
    q = ReviewQueue(settings=load_settings(database_url=args.db), clock=lambda: datetime.now(UTC))
    collections: list[list[Any]] = []  # [generation, start, end]

    def watch(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            collections.append([info["generation"], time.perf_counter(), None])
        elif collections:
            collections[-1][2] = time.perf_counter()

    gc.callbacks.append(watch)
    profile = cProfile.Profile(time.process_time) if args.profile else None
    reviewers = [f"{args.reviewers}-{k}" for k in range(20)]
    calls: list[tuple[float, float, list[tuple[int, float]]]] = []
    for k in range(args.claims):
        seen = len(collections)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        if profile is not None:
            profile.enable()
        claim = q.claim_next(reviewers[k % 20])
        if profile is not None:
            profile.disable()
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        ran = [(int(g), (end - start) * 1000) for g, start, end in collections[seen:]]
        calls.append((wall * 1000, cpu * 1000, ran))
        assert claim is not None
        q.release(claim)
    gc.callbacks.remove(watch)
    q.close()
    later = calls[1:]
    wall_ms, cpu_ms = [c[0] for c in later], [c[1] for c in later]
    print(
        json.dumps(
            {
                "load_average": [round(v, 2) for v in os.getloadavg()],
                "claims": len(calls),
                "first_ms": round(calls[0][0], 2),
                "wall_ms": {f"p{p}": _percentile(wall_ms, p / 100) for p in (50, 90, 99)},
                "cpu_ms": {f"p{p}": _percentile(cpu_ms, p / 100) for p in (50, 90, 99)},
                "calls_with_gc": sum(1 for c in calls if c[2]),
                "gc_generation_2": sum(1 for c in calls for g, _ in c[2] if g == 2),
                "gc_ms_max": round(max((ms for c in calls for _, ms in c[2]), default=0.0), 2),
            }
        )
    )
    if profile is not None:
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(args.profile)
        print(out.getvalue())


if __name__ == "__main__":
    main()
