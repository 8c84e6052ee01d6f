"""Queue benchmarks, each side by side with a raw-SQL baseline in the same run.

    python bench/bench_queue.py --db sqlite:///bench.db [--items 20000] [--pending 1000000]
    python bench/bench_queue.py --db postgresql://user:pw@127.0.0.1/db

1. claim+decide with 4 processes: `ReviewQueue.claim_next` + `decide` against a raw-SQL
   loop doing the same two transactions (claim with audit row; decision, item update,
   outbox row and audit row), items per second and the ratio.
2. ingest: `ReviewQueue.enqueue` against a raw executemany INSERT of the same rows.
3. claim_next latency with `--pending` pending items: p50/p99 over 1,000 claims.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url

from modqueue.quality import QualityConfig
from modqueue.queue import ReviewQueue, make_engine, migrate
from modqueue.settings import normalise_database_url

LABEL = "remove-ban-refer"


def _item(n: int) -> dict[str, Any]:
    return {
        "source": "bench",
        "external_id": f"b-{n}",
        "text": f"bench item {n} channel crossing offer",
        "policy": "people-smuggling",
        "signals": [{"name": "smuggling-clf-v2", "score": (n % 100) / 100}],
        "report_count": n % 50,
        "views": (n * 7919) % 2_000_000,
        "flagged_at": "2026-11-24T08:00:00Z",
    }


def reset(url: str) -> None:
    """An empty, migrated database (the audit log is append-only, so start afresh)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database or "")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    else:
        engine = make_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()


# -- claim + decide ---------------------------------------------------------------------


def _modqueue_worker(url: str, reviewer: str, out: Any) -> None:
    done = 0
    # Like for like with the raw-SQL loop: no blind second reviews.
    with ReviewQueue(url, auto_migrate=False, quality=QualityConfig(second_review_share=0.0)) as q:
        while (claim := q.claim_next(reviewer)) is not None:
            q.decide(claim, LABEL)
            done += 1
    out.put(done)


def _raw_worker(url: str, reviewer: str, out: Any) -> None:
    engine = make_engine(url)
    pg = engine.dialect.name == "postgresql"
    lock = " FOR UPDATE SKIP LOCKED" if pg else ""
    done = 0
    while True:
        now = datetime.now(UTC).replace(tzinfo=None)
        token = uuid.uuid4().hex
        with engine.begin() as conn:
            row = conn.execute(
                text(
                    "UPDATE item SET status='claimed', claimed_by=:r, claim_token=:t, "
                    "claimed_at=:now, lease_expires_at=:exp, updated_at=:now "
                    "WHERE id = (SELECT id FROM item WHERE status='pending' "
                    "AND queue NOT LIKE :senior ORDER BY priority DESC, id LIMIT 1"
                    f"{lock}) AND status='pending' RETURNING id, source, external_id, policy"
                ),
                {
                    "r": reviewer,
                    "t": token,
                    "now": now,
                    "exp": now + timedelta(minutes=5),
                    "senior": "%:senior",
                },
            ).first()
            if row is None:
                break
            conn.execute(
                text(
                    "INSERT INTO audit_event (at, actor, event, item_id, before, after) "
                    "VALUES (:at, :a, 'claimed', :i, :b, :af)"
                ),
                {
                    "at": now,
                    "a": reviewer,
                    "i": row.id,
                    "b": '{"status": "pending"}',
                    "af": '{"status": "claimed"}',
                },
            )
        now = datetime.now(UTC).replace(tzinfo=None)
        with engine.begin() as conn:
            conn.execute(
                text(
                    "SELECT id FROM item WHERE id=:i AND claim_token=:t"
                    + (" FOR UPDATE" if pg else "")
                ),
                {"i": row.id, "t": token},
            ).one()
            decision_id = conn.execute(
                text(
                    "INSERT INTO decision (item_id, reviewer, label, action, note, guideline_id, "
                    "guideline_version, seconds_spent, decided_at, origin, kind, status) VALUES "
                    "(:i, :r, :l, 'refer_law_enforcement', '', 'people-smuggling', 'v', 0, :now, "
                    "'api', 'primary', 'active') RETURNING id"
                ),
                {"i": row.id, "r": reviewer, "l": LABEL, "now": now},
            ).scalar_one()
            conn.execute(
                text(
                    "UPDATE item SET status='decided', decided_at=:now, final_label=:l, "
                    "claimed_by=NULL, claim_token=NULL, claimed_at=NULL, lease_expires_at=NULL, "
                    "updated_at=:now WHERE id=:i"
                ),
                {"i": row.id, "l": LABEL, "now": now},
            )
            conn.execute(
                text(
                    "INSERT INTO outbound_action (item_id, decision_id, action, source, "
                    "external_id, policy, label, reason, idempotency_key, status, attempts, "
                    "next_attempt_at, created_at, updated_at) VALUES (:i, :d, "
                    "'refer_law_enforcement', :s, :e, :p, :l, 'r', :k, 'pending', 0, "
                    ":now, :now, :now)"
                ),
                {
                    "i": row.id,
                    "d": decision_id,
                    "s": row.source,
                    "e": row.external_id,
                    "p": row.policy,
                    "l": LABEL,
                    "k": uuid.uuid4().hex,
                    "now": now,
                },
            )
            conn.execute(
                text(
                    "INSERT INTO audit_event (at, actor, event, item_id, before, after) "
                    "VALUES (:at, :a, 'decided', :i, :b, :af)"
                ),
                {
                    "at": now,
                    "a": reviewer,
                    "i": row.id,
                    "b": '{"status": "claimed"}',
                    "af": '{"status": "decided"}',
                },
            )
        done += 1
    engine.dispose()
    out.put(done)


def _run_workers(target: Any, url: str, processes: int) -> float:
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=target, args=(url, f"r{i}", out)) for i in range(processes)]
    start = time.perf_counter()
    for p in procs:
        p.start()
    total = sum(out.get(timeout=3600) for _ in procs)
    elapsed = time.perf_counter() - start
    for p in procs:
        p.join()
    return float(total) / elapsed


def bench_claim_decide(url: str, items: int, processes: int) -> dict[str, float]:
    results: dict[str, list[float]] = {"modqueue": [], "raw": []}
    for _round in range(2):
        for name, target in (("raw", _raw_worker), ("modqueue", _modqueue_worker)):
            reset(url)
            with ReviewQueue(url) as q:
                q.enqueue(_item(n) for n in range(items))
            results[name].append(_run_workers(target, url, processes))
    best = {k: max(v) for k, v in results.items()}
    return {
        **{f"{k}_items_per_s": round(v, 1) for k, v in best.items()},
        "ratio": round(best["modqueue"] / best["raw"], 3),
    }


# -- ingest ---------------------------------------------------------------------------


def bench_ingest(url: str, items: int) -> dict[str, float]:
    rows = [_item(n) for n in range(items)]
    reset(url)
    with ReviewQueue(url) as q:
        start = time.perf_counter()
        report = q.enqueue(rows)
        ours = items / (time.perf_counter() - start)
        assert report.new == items
    reset(url)
    engine = make_engine(url)
    now = datetime.now(UTC).replace(tzinfo=None)
    start = time.perf_counter()
    with engine.begin() as conn:
        for i in range(0, items, 1000):
            conn.execute(
                text(
                    "INSERT INTO item (source, external_id, text, media, policy, signals, "
                    "report_count, views, queue, status, priority, priority_breakdown, "
                    "ingested_at, updated_at, deadline_at, deadline_state, escalated) VALUES "
                    "(:source, :external_id, :text, '[]', :policy, :signals, :report_count, "
                    ":views, :policy, 'pending', 1.0, '{}', :now, :now, :now, 'ok', false)"
                ),
                [
                    {**r, "signals": json.dumps(r["signals"]), "now": now}
                    for r in rows[i : i + 1000]
                ],
            )
    raw = items / (time.perf_counter() - start)
    engine.dispose()
    return {
        "modqueue_items_per_s": round(ours, 1),
        "raw_insert_items_per_s": round(raw, 1),
        "ratio": round(ours / raw, 3),
    }


# -- claim latency with many pending ----------------------------------------------------


def fill_pending(url: str, count: int) -> None:
    reset(url)
    engine = make_engine(url)
    now = datetime.now(UTC).replace(tzinfo=None)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(
                text(
                    "INSERT INTO item (source, external_id, text, media, policy, signals, "
                    "report_count, views, queue, status, priority, priority_breakdown, "
                    "ingested_at, updated_at, deadline_at, deadline_state, escalated) "
                    "SELECT 'bench', 'p-' || g, 'pending item ' || g, '[]', "
                    "'people-smuggling', '[]', 0, 0, "
                    "CASE WHEN g % 5 = 0 THEN 'hate' ELSE 'people-smuggling' END, "
                    "'pending', random() * 100, '{}', :now, :now, :now, 'ok', false "
                    "FROM generate_series(1, :n) AS g"
                ),
                {"now": now, "n": count},
            )
            conn.execute(text("ANALYZE item"))
        else:
            batch = 20_000
            for start in range(0, count, batch):
                conn.execute(
                    text(
                        "INSERT INTO item (source, external_id, text, media, policy, signals, "
                        "report_count, views, queue, status, priority, priority_breakdown, "
                        "ingested_at, updated_at, deadline_at, deadline_state, escalated) "
                        "VALUES ('bench', :e, 'pending item', '[]', 'people-smuggling', '[]', 0, "
                        "0, :q, 'pending', :p, '{}', :now, :now, :now, 'ok', 0)"
                    ),
                    [
                        {
                            "e": f"p-{n}",
                            "q": "hate" if n % 5 == 0 else "people-smuggling",
                            "p": (n * 7919 % 10_000) / 100,
                            "now": now,
                        }
                        for n in range(start, min(start + batch, count))
                    ],
                )
            conn.execute(text("ANALYZE"))
    engine.dispose()


def bench_claim_latency(url: str, pending: int, claims: int = 1000) -> dict[str, float]:
    fill_pending(url, pending)
    out: dict[str, float] = {}
    with ReviewQueue(url) as q:
        for label, queues in (("all_queues", None), ("one_queue", ["hate"])):
            times = []
            for _ in range(claims):
                start = time.perf_counter()
                claim = q.claim_next("bench", queues)
                times.append((time.perf_counter() - start) * 1000)
                assert claim is not None
            times.sort()
            out[f"{label}_p50_ms"] = round(statistics.median(times), 2)
            out[f"{label}_p99_ms"] = round(times[int(len(times) * 0.99) - 1], 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--ingest-items", type=int, default=100_000)
    parser.add_argument("--pending", type=int, default=1_000_000)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--only", choices=["claim", "ingest", "latency"], action="append")
    args = parser.parse_args()
    url = normalise_database_url(args.db)
    backend = make_url(url).get_backend_name()
    only = set(args.only or ["claim", "ingest", "latency"])
    results: dict[str, Any] = {"backend": backend}
    if "claim" in only:
        results["claim_decide"] = bench_claim_decide(url, args.items, args.processes)
        print(json.dumps(results), flush=True)
    if "ingest" in only:
        results["ingest"] = bench_ingest(url, args.ingest_items)
        print(json.dumps(results), flush=True)
    if "latency" in only:
        results["claim_latency"] = bench_claim_latency(url, args.pending)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
