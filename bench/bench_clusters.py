"""Clusters on a flood corpus: human decisions needed, pairwise precision and recall,
ingest rate with fingerprinting against ingest without it (same run), and PDQ lookups
against a bank of 1,000,000 hashes.

    .venv/bin/python bench/bench_clusters.py [--n 100000] [--k 5000] [--db-dir /tmp]
        [--bank 1000000] [--lookups 5000] [--skip-plain]

- corpus: `bench/flood_corpus.py` (N items from K originals, realistic edits, ground
  truth); generation time is not counted;
- ingest: the same items into two fresh SQLite databases with `ingest_batch` in batches
  of 1,000 (one transaction each), once with fingerprinting and cluster assignment and
  once without (`fingerprint=False`): the baseline. Rates per wall second and per CPU
  second of this process (SQLite runs in it, so that is all the work; on a shared,
  loaded machine the CPU ratio moves less than the wall one);
- decisions needed to clear the queue: clusters + items in no cluster;
- pairwise precision: of the item pairs put in one cluster, the share that are copies of
  one original; recall: of the pairs of copies of one original, the share in one cluster;
- PDQ: `PdqIndex` over `--bank` random hashes (plus the queries' near neighbours), each
  query a stored hash with 1-31 random bits flipped; rate per CPU second (one core) and
  per wall second.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlmodel import Session, col

from bench.flood_corpus import cached
from modqueue.queue import Item, ItemIn, PdqIndex, ReviewQueue, ingest_batch


def ingest(db: str, items: list[dict[str, Any]], *, fingerprint: bool) -> tuple[float, float]:
    """Items per wall second and per CPU second for `items` into a fresh database at
    `db`."""
    queue = ReviewQueue(db)
    parsed = [ItemIn.model_validate(x) for x in items]
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

        queue.run(store)
    rate = len(parsed) / (time.perf_counter() - start)
    cpu_rate = len(parsed) / (time.process_time() - cpu)
    queue.close()
    return rate, cpu_rate


def quality(db: str, truth: dict[str, int]) -> dict[str, float]:
    queue = ReviewQueue(db)
    rows = queue.read(
        lambda s: list(s.execute(select(col(Item.external_id), col(Item.cluster_id))).all())
    )
    queue.close()
    clusters: dict[int, list[str]] = defaultdict(list)
    singletons = 0
    for external_id, cluster_id in rows:
        if cluster_id is None:
            singletons += 1
        else:
            clusters[cluster_id].append(external_id)

    def pairs(n: int) -> int:
        return n * (n - 1) // 2

    predicted = sum(pairs(len(m)) for m in clusters.values())
    correct = sum(
        pairs(c)
        for members in clusters.values()
        for c in Counter(truth[m] for m in members).values()
    )
    actual = sum(pairs(c) for c in Counter(truth.values()).values())
    decisions = len(clusters) + singletons
    return {
        "items": len(rows),
        "clusters": len(clusters),
        "singletons": singletons,
        "decisions": decisions,
        "decision_share": decisions / len(rows),
        "precision": correct / predicted if predicted else 1.0,
        "recall": correct / actual if actual else 1.0,
    }


def pdq_lookups(bank: int, lookups: int, seed: int = 7) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    raw = rng.integers(0, 256, (bank, 32), dtype=np.uint8)
    hexed = raw.tobytes().hex()
    hashes = [hexed[i * 64 : (i + 1) * 64] for i in range(bank)]
    start = time.perf_counter()
    index = PdqIndex(hashes, list(range(bank)))
    build = time.perf_counter() - start
    pick = random.Random(seed)
    queries = []
    for _ in range(lookups):
        target = pick.randrange(bank)
        value = int(hashes[target], 16)
        for bit in pick.sample(range(256), pick.randint(1, 31)):
            value ^= 1 << bit
        queries.append((target, f"{value:064x}"))
    cpu, wall = time.process_time(), time.perf_counter()
    found = sum(1 for target, q in queries if any(i == target for i, _ in index.search(q)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {
        "bank": bank,
        "build_s": build,
        "per_cpu_s": lookups / cpu,
        "per_wall_s": lookups / wall,
        "recall": found / lookups,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--k", type=int, default=5_000)
    parser.add_argument("--db-dir", default=tempfile.gettempdir())
    parser.add_argument("--bank", type=int, default=1_000_000)
    parser.add_argument("--lookups", type=int, default=5_000)
    parser.add_argument("--skip-plain", action="store_true")
    args = parser.parse_args()
    start = time.perf_counter()
    items, truth = cached(args.n, args.k, args.db_dir)
    print(
        f"corpus: {len(items)} items from {args.k} originals ({time.perf_counter() - start:.0f} s)"
    )
    folder = Path(args.db_dir)
    with_db = folder / f"bench_clusters_fp_{args.n}.db"
    plain_db = folder / f"bench_clusters_plain_{args.n}.db"
    for path in (with_db, plain_db):
        path.unlink(missing_ok=True)
    plain = plain_cpu = 0.0
    if not args.skip_plain:
        plain, plain_cpu = ingest(f"sqlite:///{plain_db}", items, fingerprint=False)
        print(
            f"ingest without fingerprints: {plain:,.0f} items/s ({plain_cpu:,.0f} per CPU second)"
        )
    fingerprinted, fingerprinted_cpu = ingest(f"sqlite:///{with_db}", items, fingerprint=True)
    print(
        f"ingest with fingerprints:    {fingerprinted:,.0f} items/s "
        f"({fingerprinted_cpu:,.0f} per CPU second)",
        end="",
    )
    print(
        f"  ({fingerprinted / plain:.2f}x wall, {fingerprinted_cpu / plain_cpu:.2f}x CPU)"
        if plain
        else ""
    )
    result = quality(f"sqlite:///{with_db}", truth)
    print(
        f"decisions needed: {result['decisions']:,} of {result['items']:,} items "
        f"({result['decision_share']:.3f}; {result['clusters']:,} clusters + "
        f"{result['singletons']:,} singletons)"
    )
    print(f"pairwise precision {result['precision']:.4f}, recall {result['recall']:.4f}")
    if args.bank:
        pdq = pdq_lookups(args.bank, args.lookups)
        print(
            f"PDQ lookups, bank of {pdq['bank']:,}: {pdq['per_cpu_s']:,.0f} per CPU second, "
            f"{pdq['per_wall_s']:,.0f} per wall second (index built in {pdq['build_s']:.1f} s, "
            f"recall {pdq['recall']:.3f})"
        )
    for path in (with_db, plain_db):
        path.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
