"""Where the CPU of fingerprinting at ingest goes: the flood corpus ingested with and
without fingerprinting, each in a fresh database, the fingerprinted run under cProfile
(or not, `--no-profile`), and each cluster's member set written out to compare runs.

    .venv/bin/python -m bench.fingerprint_profile --n 20000 --k 1000 \
        [--db postgresql+psycopg://...] [--clusters /tmp/clusters.txt] [--top 40]

- `--db`: a database URL to ingest into (emptied first: every modqueue table dropped);
  a fresh SQLite file by default;
- `--clusters FILE`: every cluster as one line of its members' external ids (sorted),
  the lines sorted: two runs gave the same partition when the files are equal;
- `--rounds R`: R pairs of ingests (without, then with fingerprinting), each into a
  fresh database; CPU and wall seconds of each.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from sqlalchemy import create_engine, select, text
from sqlmodel import Session, col

from bench.flood_corpus import cached
from modqueue.queue import Item, ItemIn, ReviewQueue, ingest_batch


def _reset(url: str) -> None:
    """Drop everything in the database at `url` (PostgreSQL: the public schema)."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)
        return
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def ingest(
    url: str, parsed: list[ItemIn], *, fingerprint: bool, profile: cProfile.Profile | None
) -> tuple[float, float]:
    """Wall and CPU seconds of ingesting `parsed` into a fresh database at `url`."""
    _reset(url)
    queue = ReviewQueue(url)
    start, cpu = time.perf_counter(), time.process_time()
    for i in range(0, len(parsed), 1000):
        chunk = parsed[i : i + 1000]

        def store(session: Session, chunk: list[ItemIn] = chunk) -> tuple[int, int]:
            return ingest_batch(
                session,
                items=chunk,
                guidelines=queue.guidelines,
                now=queue.clock(),
                fingerprint=fingerprint,
            )

        if profile is not None:
            profile.enable()
        queue.run(store)
        if profile is not None:
            profile.disable()
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    queue.close()
    return wall, cpu


def clusters(url: str) -> list[str]:
    """Each cluster's members (external ids, sorted) as one line, the lines sorted."""
    queue = ReviewQueue(url)
    rows = queue.read(
        lambda s: list(s.execute(select(col(Item.external_id), col(Item.cluster_id))).all())
    )
    queue.close()
    found: dict[int, list[str]] = defaultdict(list)
    for external_id, cluster_id in rows:
        if cluster_id is not None:
            found[cluster_id].append(external_id)
    return sorted(" ".join(sorted(m)) for m in found.values())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--k", type=int, default=1_000)
    parser.add_argument("--db", default=None)
    parser.add_argument("--cache-dir", default=tempfile.gettempdir())
    parser.add_argument("--clusters", default=None)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--sort", default="tottime")
    args = parser.parse_args()
    items, _truth = cached(args.n, args.k, args.cache_dir)
    parsed = [ItemIn.model_validate(x) for x in items]
    url = args.db or f"sqlite:///{Path(args.cache_dir) / f'fingerprint_profile_{args.n}.db'}"
    profile = None if args.no_profile else cProfile.Profile()
    for round_ in range(args.rounds):
        load = os.getloadavg()[0]
        plain_wall, plain_cpu = ingest(url, parsed, fingerprint=False, profile=None)
        fp_wall, fp_cpu = ingest(url, parsed, fingerprint=True, profile=profile)
        print(
            f"round {round_ + 1} (load {load:.1f} -> {os.getloadavg()[0]:.1f}): "
            f"without {plain_wall:.2f} s wall / {plain_cpu:.2f} s CPU, "
            f"with {fp_wall:.2f} s wall / {fp_cpu:.2f} s CPU: "
            f"{plain_wall / fp_wall:.2f}x wall, {plain_cpu / fp_cpu:.2f}x CPU",
            flush=True,
        )
    if args.clusters:
        lines = clusters(url)
        Path(args.clusters).write_text("\n".join(lines) + "\n")
        print(f"{len(lines)} clusters, {sum(len(x.split()) for x in lines)} items clustered")
    if profile is not None:
        pstats.Stats(profile).sort_stats(args.sort).print_stats(args.top)


if __name__ == "__main__":
    main()
