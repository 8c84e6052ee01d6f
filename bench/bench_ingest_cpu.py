"""Ingest against the plain driver loop by CPU time (issue 17): the same two loads as
`bench_queue.py --only ingest --ingest-mode no_fingerprint`, one after the other in one
process, each on a fresh migrated database, timed by wall clock and by the process's CPU
seconds (`time.process_time`; on SQLite this covers the database's work too). On a loaded
machine the CPU ratio is steadier than the wall ratio.

    .venv/bin/python bench/bench_ingest_cpu.py --db sqlite:////tmp/ic.db --rounds 3

Run it from a tree (with `PYTHONPATH` set to it) to measure that tree's code.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import uuid
from pathlib import Path

from bench.bench_queue import _plain_driver_load, _write_jsonl, reset
from modqueue.queue import ReviewQueue, ingest_jsonl
from modqueue.settings import normalise_database_url


def one_round(url: str, work: Path, items: int) -> dict[str, float]:
    """Plain loop then modqueue: CPU and wall seconds of each, and the ratios."""
    reset(url)
    cpu, wall = time.process_time(), time.perf_counter()
    assert _plain_driver_load(url, work) == items
    plain_cpu, plain_wall = time.process_time() - cpu, time.perf_counter() - wall
    reset(url)
    with ReviewQueue(url) as q, work.open("rb") as f:
        cpu, wall = time.process_time(), time.perf_counter()
        report = ingest_jsonl(q, f, fingerprint=False)
        ours_cpu, ours_wall = time.process_time() - cpu, time.perf_counter() - wall
    assert report.new == items and not report.rejected, report.to_dict()
    return {
        "plain_cpu_s": round(plain_cpu, 3),
        "modqueue_cpu_s": round(ours_cpu, 3),
        "ratio_cpu": round(plain_cpu / ours_cpu, 3),
        "ratio_wall": round(plain_wall / ours_wall, 3),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    url = normalise_database_url(args.db)
    work = Path(os.environ.get("TMPDIR", "/tmp")) / f"ingest_cpu_{uuid.uuid4().hex}.jsonl"
    _write_jsonl(work, args.items)
    try:
        for _ in range(args.rounds):
            print(json.dumps(one_round(url, work, args.items)), flush=True)
    finally:
        work.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
