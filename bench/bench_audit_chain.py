"""What the audit hash chain and authorization cost: claim+decide throughput, side by side.

    python bench/bench_audit_chain.py --db sqlite:///bench-audit.db [--items 1500]
    python bench/bench_audit_chain.py --db postgresql://user:pw@127.0.0.1/db --workers 4

Four variants run in the same process, each on a fresh database (the given one is
dropped and recreated for PostgreSQL; the SQLite file is replaced), with `--workers`
processes claiming and deciding until the queue is empty:

* `baseline`: the queue core as it was before issue 8: plain audit inserts, no checks;
* `chain`: hash-chained audit appends (PostgreSQL: advisory lock until commit), no checks;
* `chain+open`: chain plus `authorize` in open mode (no reviewers registered);
* `chain+enforced`: chain plus `authorize` with every worker a registered reviewer.

Prints items/s per variant and its ratio to `baseline`.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import insert
from sqlalchemy.engine import make_url
from sqlmodel import Session

from modqueue.quality import QualityConfig
from modqueue.queue import (
    ReviewQueue,
    _review_queue,
    add_reviewer,
    make_engine,
    migrate,
)
from modqueue.queue._audit import chain as _audit
from modqueue.queue._claims import leases as _claims
from modqueue.queue._core.models import AuditEvent
from modqueue.queue._items import ingest as _ingest
from modqueue.settings import normalise_database_url

VARIANTS = ["baseline", "chain", "chain+open", "chain+enforced"]


def _plain_record_events(session: Session, records: Any) -> None:
    """The audit append before the chain (main at 60472e3)."""
    if not records:
        return
    session.execute(
        insert(AuditEvent),
        [
            {
                "at": r.at,
                "actor": r.actor,
                "event": r.event,
                "item_id": r.item_id,
                "before": r.before,
                "after": r.after,
                "detail": r.detail,
            }
            for r in records
        ],
    )


def _apply_variant(variant: str) -> None:
    if variant in ("baseline", "chain"):
        setattr(_review_queue, "authorize", lambda *a, **k: None)  # noqa: B010
    if variant == "baseline":
        for module in (_audit, _claims, _ingest):
            setattr(module, "record_events", _plain_record_events)  # noqa: B010


def _worker(url: str, variant: str, name: str, out: Any, go: Any) -> None:
    _apply_variant(variant)
    done = 0
    # Each item claimed and decided once: no blind second reviews.
    with ReviewQueue(url, auto_migrate=False, quality=QualityConfig(second_review_share=0.0)) as q:
        q.stats()  # connect and warm up before the clock starts
        out.put("ready")
        go.wait()
        while (claim := q.claim_next(name)) is not None:
            q.decide(claim, "no-violation")
            done += 1
    out.put(done)


def _fresh(url: str) -> None:
    parsed = make_url(normalise_database_url(url))
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database or "")
        for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            p.unlink(missing_ok=True)
    else:
        admin = parsed.set(drivername="postgresql", database="postgres")
        with psycopg.connect(admin.render_as_string(False), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{parsed.database}"')
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()


def run_variant(url: str, variant: str, items: int, workers: int) -> float:
    """Items per second for one variant on a fresh database."""
    _fresh(url)
    names = [f"w{i}" for i in range(workers)]
    with ReviewQueue(url) as q:
        if variant == "chain+enforced":
            for actor, name, role in [(None, "root", "admin")] + [
                ("root", n, "reviewer") for n in names
            ]:
                with q.session() as s:
                    add_reviewer(
                        s, actor=actor, name=name, role=role, policies=["*"], now=q.clock()
                    )
        q.enqueue(
            {
                "source": "bench",
                "external_id": f"b-{i}",
                "text": "synthetic",
                "policy": "people-smuggling",
            }
            for i in range(items)
        )
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    go = ctx.Event()
    procs = [ctx.Process(target=_worker, args=(url, variant, n, out, go)) for n in names]
    for p in procs:
        p.start()
    for _ in procs:
        assert out.get(timeout=300) == "ready"
    started = time.perf_counter()
    go.set()
    total = sum(out.get(timeout=900) for _ in procs)
    elapsed = time.perf_counter() - started
    for p in procs:
        p.join(timeout=60)
    assert total == items, (total, items)
    return items / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--items", type=int, default=1500)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=1, help="repeat and keep the best")
    args = parser.parse_args()
    backend = make_url(normalise_database_url(args.db)).get_backend_name()
    print(f"{backend}, {args.workers} worker(s), {args.items} items (claim + decide each)")
    rates: dict[str, float] = {}
    for _ in range(args.rounds):
        for variant in VARIANTS:
            rate = run_variant(args.db, variant, args.items, args.workers)
            rates[variant] = max(rates.get(variant, 0.0), rate)
    for variant in VARIANTS:
        ratio = rates[variant] / rates["baseline"]
        print(f"  {variant:<16}{rates[variant]:>9.0f} items/s   x{ratio:.2f} of baseline")


if __name__ == "__main__":
    main()
