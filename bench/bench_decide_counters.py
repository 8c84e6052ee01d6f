"""What the decision counters' triggers cost a decision (issue 17, `dash4`).

On a PostgreSQL database built with `bench/scale.py` (pending items to claim):

    python bench/bench_decide_counters.py --db postgresql://... --processes 1 4 \\
        --decides 150 --rounds 3 --report /tmp/decide-counters.json

Per round, per process count and per mode (order alternating between rounds), the
triggers on `decision` are switched (`ALTER TABLE decision ENABLE/DISABLE TRIGGER`) and
`--processes` processes each claim (`claim_next`) and decide (`decide`) `--decides`
items through the product, as reviewers of their own, all at the same time:

* `none`: neither `decision_minute`'s triggers (migration 0029) nor `decision_handling`'s
  (0030): no counters;
* `minute`: `decision_minute`'s only (main before `dash4`);
* `both`: both (`dash4`).

With `--inserts N` each run is instead N single-decision `INSERT`s on one connection,
each rolled back (the statement-level triggers still run): the wall and server CPU per
insert, which is what the triggers add to a decision without the noise of the rest of
`decide`.

Reported per run: decisions per second over the run, the p50/p99 of `decide` (wall) and
the client CPU per claim+decide (median over processes). Concurrent deciders of one
policy share a counter row per minute (and per hour and bucket): what they wait on each
other shows in the 4-process runs. Afterwards every trigger is enabled again and both
counter tables are counted afresh from the decisions (a run leaves them short by the
decisions made with their triggers off).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import multiprocessing as mp
import os
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text

HERE = Path(__file__).resolve().parent.parent
MINUTE_TRIGGERS = ("decision_count_inserted", "decision_count_deleted", "decision_count_updated")
HANDLING_TRIGGERS = (
    "decision_handling_inserted",
    "decision_handling_deleted",
    "decision_handling_updated",
)
MODES = {
    "none": (),
    "minute": MINUTE_TRIGGERS,
    "both": MINUTE_TRIGGERS + HANDLING_TRIGGERS,
}


def _switch(url: str, enabled: tuple[str, ...]) -> None:
    from modqueue.queue import make_engine

    engine = make_engine(url)
    with engine.begin() as conn:
        for name in MINUTE_TRIGGERS + HANDLING_TRIGGERS:
            verb = "ENABLE" if name in enabled else "DISABLE"
            conn.execute(text(f"ALTER TABLE decision {verb} TRIGGER {name}"))
    engine.dispose()


def _decider(url: str, reviewer: str, decides: int, start: Any, out: Any) -> None:
    sys.path.insert(0, str(HERE))  # a spawned child starts with bench/ on its path
    from bench.scale import labels_for
    from modqueue.queue import ReviewQueue
    from modqueue.settings import load_settings

    q = ReviewQueue(settings=load_settings(database_url=url))
    labels = labels_for(q)
    start.wait()
    decide_s: list[float] = []
    cpu0, t0 = time.process_time(), time.perf_counter()
    for k in range(decides):
        claim = q.claim_next(reviewer)
        assert claim is not None, "no pending item left"
        quiet, loud = labels[claim.item.policy or "triage"]
        t1 = time.perf_counter()
        q.decide(claim, loud if k % 3 == 0 else quiet)
        decide_s.append(time.perf_counter() - t1)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    q.close()
    out.put({"decide_s": decide_s, "elapsed": elapsed, "cpu": cpu})


def _run(url: str, processes: int, decides: int, round_: int) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    start = ctx.Barrier(processes)
    out = ctx.Queue()
    workers = [
        ctx.Process(target=_decider, args=(url, f"mod-{k}", decides, start, out))
        for k in range(processes)
    ]
    load = os.getloadavg()
    for w in workers:
        w.start()
    results = [out.get() for _ in workers]
    for w in workers:
        w.join()
    samples = sorted(s for r in results for s in r["decide_s"])
    elapsed = max(r["elapsed"] for r in results)
    return {
        "load_average": [round(v, 2) for v in load],
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "decisions_per_second": round(len(samples) / elapsed, 1),
        "decide_p50_ms": round(statistics.median(samples) * 1000, 2),
        "decide_p99_ms": round(samples[int(len(samples) * 0.99) - 1] * 1000, 2),
        "cpu_per_claim_decide_ms": round(
            statistics.median(r["cpu"] for r in results) / decides * 1000, 2
        ),
    }


_INSERT = text(
    "INSERT INTO decision (item_id, reviewer, label, action, note, guideline_id, "
    "guideline_version, seconds_spent, decided_at, origin, kind, status, after_deadline) "
    "SELECT id, 'mod-0', 'no-violation', 'none', '', policy, '1', :seconds, :at, 'api', "
    "'primary', 'active', false FROM item WHERE id = :item"
)


def _inserts(url: str, count: int) -> dict[str, Any]:
    """`count` single-decision inserts, each in its own transaction rolled back (the
    statement triggers run at the end of the statement): wall and the backend's CPU per
    insert."""
    from sqlmodel import Session

    sys.path.insert(0, str(HERE))
    from bench.bench_dashboard_window import _backend_cpu
    from modqueue.queue import make_engine

    engine = make_engine(url)
    with Session(engine) as s:
        pid = int(s.execute(text("SELECT pg_backend_pid()")).scalar_one())
        item = int(s.execute(text("SELECT min(id) FROM item")).scalar_one())
        s.rollback()
        at = datetime(2026, 12, 4, tzinfo=UTC)
        load = os.getloadavg()
        b0, w0 = _backend_cpu(pid), time.perf_counter()
        for k in range(count):
            s.execute(_INSERT, {"seconds": 5.0 + k % 300, "at": at, "item": item})
            s.rollback()
        w1, b1 = time.perf_counter(), _backend_cpu(pid)
    engine.dispose()
    return {
        "load_average": [round(v, 2) for v in load],
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "wall_per_insert_ms": round((w1 - w0) / count * 1000, 3),
        "server_cpu_per_insert_ms": round((b1 - b0) / count * 1000, 3),
    }


def _migration(name: str) -> Any:
    path = HERE / "modqueue" / "migrations" / "versions" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _recount(url: str) -> None:
    """Both counter tables afresh from the decisions (as migrations 0029 and 0030 add
    them up), with `decision` locked against writes."""
    from modqueue.queue import make_engine

    minute = _migration("0029_dash3_after_deadline")
    handling = _migration("0030_dash4_handling_buckets")
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("LOCK TABLE decision IN SHARE ROW EXCLUSIVE MODE"))
        conn.execute(text("DELETE FROM decision_minute"))
        conn.execute(text("DELETE FROM decision_handling"))
        last = conn.execute(text("SELECT coalesce(max(id), 0) FROM decision")).scalar_one()
        params = {"low": 0, "high": last + 1}
        conn.execute(minute._PG_COUNT, params)
        conn.execute(handling._count(True), params)
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--decides", type=int, default=150, help="per process and run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--modes", nargs="+", choices=list(MODES), default=list(MODES))
    parser.add_argument("--report", type=Path, default=Path("decide-counters.json"))
    parser.add_argument(
        "--inserts", type=int, default=0, help="single-row inserts per mode instead of decides"
    )
    args = parser.parse_args()
    runs: list[dict[str, Any]] = []
    try:
        for r in range(args.rounds if args.inserts else 0):
            order = list(args.modes) if r % 2 == 0 else list(reversed(args.modes))
            for mode in order:
                _switch(args.db, MODES[mode])
                got = _inserts(args.db, args.inserts)
                runs.append({"round": r + 1, "mode": mode, **got})
                print(
                    f"round {r + 1} insert {mode:6}: wall {got['wall_per_insert_ms']:6.3f} ms, "
                    f"server CPU {got['server_cpu_per_insert_ms']:6.3f} ms "
                    f"(load {got['load_average'][0]:.2f})",
                    flush=True,
                )
                args.report.write_text(json.dumps(runs, indent=2))
        for r in range(0 if args.inserts else args.rounds):
            for processes in args.processes:
                order = list(args.modes) if r % 2 == 0 else list(reversed(args.modes))
                for mode in order:
                    _switch(args.db, MODES[mode])
                    got = _run(args.db, processes, args.decides, r)
                    runs.append({"round": r + 1, "processes": processes, "mode": mode, **got})
                    print(
                        f"round {r + 1} x{processes} {mode:6}: {got['decisions_per_second']:6.1f}"
                        f"/s, decide p50 {got['decide_p50_ms']:6.2f} p99 "
                        f"{got['decide_p99_ms']:7.2f} ms, CPU {got['cpu_per_claim_decide_ms']:5.2f}"
                        f" ms (load {got['load_average'][0]:.2f})",
                        flush=True,
                    )
                    args.report.write_text(json.dumps(runs, indent=2))
    finally:
        _switch(args.db, MODES["both"])
        _recount(args.db)


if __name__ == "__main__":
    main()
