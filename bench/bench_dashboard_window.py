"""The lead dashboard against the number of decisions in its 12-hour window (issue 17).

On a database built with `bench/scale.py` (whose decisions lie in a simulated past year):

    python bench/bench_dashboard_window.py --db postgresql://... --phase window \\
        --large 50000 --small 7000
    python bench/bench_dashboard_window.py --db ... --phase compare \\
        --baseline /tmp/main-checkout --rounds 5 --report /tmp/dash.json

`window` decides `--large + --small` pending items through the product's set decide
(`decide_items`, `--batch` items per call, each call at its own time, spread evenly,
with its own seconds spent): `--large` spread over the 12 hours before `T - 13 h` and
`--small` over the 12 hours before `T` (T: `--at`, default when the phase runs). So the
dashboard read at `T - 13 h` has `--large` decisions in its window and the one at `T`
has `--small` (the two windows do not overlap); the times are written to `--report`.

`compare` alternates, per round and window, a child process running this branch's code
and one running `--baseline`'s (a checkout of the code to compare with, put first on
`PYTHONPATH`; `--baseline-python`: its own interpreter, e.g. its `.venv`; each child runs
in its code's directory), each timing `dashboard_metrics` `--runs` times after one
warm-up call, in its own session: wall time, the client's CPU time and the PostgreSQL
backend's CPU time
(from `/proc/<backend pid>/stat`: the benchmark must run on the database's machine, as
a user allowed to read it). Medians per child, the load average before each.

`time` is what each child runs (`--now`: the read time).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlmodel import Session

HERE = Path(__file__).resolve().parent.parent


def _backend_cpu(pid: int) -> float:
    """CPU seconds (user + system) the process `pid` used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def phase_window(
    url: str, large: int, small: int, batch_size: int, at: datetime | None, report: Path
) -> None:
    from modqueue.queue import ReviewQueue, decide_items
    from modqueue.settings import load_settings

    now = at or datetime.now(UTC).replace(microsecond=0)
    q = ReviewQueue(settings=load_settings(database_url=url), clock=lambda: now)
    with q.read_session() as s:
        pending = [
            int(i)
            for i in s.execute(
                text(
                    "SELECT id FROM item WHERE status = 'pending' AND queue NOT LIKE '%:%' "
                    "ORDER BY id LIMIT :n"
                ),
                {"n": large + small},
            ).scalars()
        ]
    assert len(pending) == large + small, "not enough pending items"
    rng = random.Random(17)
    large_at = now - timedelta(hours=13)
    plan = [(pending[:large], large_at), (pending[large:], now)]
    started = time.perf_counter()
    decided = 0
    for ids, read_at in plan:
        batches = [ids[k : k + batch_size] for k in range(0, len(ids), batch_size)]
        step = timedelta(hours=12) / len(batches)
        for n, batch in enumerate(batches):
            at = read_at - timedelta(hours=12) + step * (n + 0.5)

            def work(s: Session, batch: list[int] = batch, at: datetime = at) -> int:
                outcome = decide_items(
                    s,
                    item_ids=batch,
                    reviewer="bench-lead",
                    label="no-violation",
                    guidelines=q.guidelines,
                    now=at,
                    origin="bulk",
                    seconds_spent=round(rng.uniform(5, 300), 3),
                )
                return len(outcome.decision_ids)

            decided += q.run(work)
    seconds = time.perf_counter() - started
    with q.session() as s:
        s.execute(text("ANALYZE decision"))
    q.close()
    report.write_text(
        json.dumps(
            {
                "large_at": large_at.isoformat(),
                "small_at": now.isoformat(),
                "large": large,
                "small": small,
                "decided": decided,
                "seconds": round(seconds, 1),
            },
            indent=2,
        )
    )
    print(f"window: {decided} decisions in {seconds:.1f} s; read at {large_at} and {now}")


def phase_time(url: str, now: datetime, runs: int) -> None:
    import modqueue
    from modqueue.queue import dashboard_metrics, make_engine

    engine = make_engine(url)
    wall: list[float] = []
    client: list[float] = []
    server: list[float] = []
    with Session(engine) as s:
        pid = int(s.execute(text("SELECT pg_backend_pid()")).scalar_one())
        decided = 0
        for n in range(runs + 1):
            b0, c0, w0 = _backend_cpu(pid), time.process_time(), time.perf_counter()
            metrics = dashboard_metrics(s, now=now)
            w1, c1, b1 = time.perf_counter(), time.process_time(), _backend_cpu(pid)
            s.rollback()
            if n == 0:  # warm-up
                decided = sum(metrics.decided_series) + metrics.automated
                continue
            wall.append((w1 - w0) * 1000)
            client.append((c1 - c0) * 1000)
            server.append((b1 - b0) * 1000)
    engine.dispose()
    print(
        json.dumps(
            {
                "code_path": str(Path(modqueue.__file__).parent.parent),
                "decided_in_window": decided,
                "wall_ms": [round(v, 1) for v in wall],
                "client_cpu_ms": [round(v, 1) for v in client],
                "server_cpu_ms": [round(v, 1) for v in server],
            }
        )
    )


def phase_compare(
    url: str, baseline: Path, rounds: int, runs: int, report: Path, python: str | None = None
) -> None:
    window = json.loads(report.read_text())
    results: list[dict[str, Any]] = window.setdefault("rounds", [])
    for r in range(rounds):
        for label, at in (("large", window["large_at"]), ("small", window["small_at"])):
            order = [("baseline", baseline), ("branch", HERE)]
            if r % 2:
                order.reverse()
            for code, root in order:
                env = {**os.environ, "PYTHONPATH": str(root)}
                load = os.getloadavg()
                interpreter = python if python and code == "baseline" else sys.executable
                command = [interpreter, __file__, "--db", url, "--phase", "time"]
                out = subprocess.run(
                    [*command, "--now", at, "--runs", str(runs)],
                    cwd=root,
                    env=env,
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
                got = json.loads(out.strip().splitlines()[-1])
                row = {
                    "round": r + 1,
                    "window": label,
                    "code": code,
                    "load_average": [round(v, 2) for v in load],
                    "at": datetime.now(UTC).isoformat(timespec="seconds"),
                    **got,
                    "median_wall_ms": round(statistics.median(got["wall_ms"]), 1),
                    "median_server_cpu_ms": round(statistics.median(got["server_cpu_ms"]), 1),
                    "median_client_cpu_ms": round(statistics.median(got["client_cpu_ms"]), 1),
                }
                results.append(row)
                print(
                    f"round {r + 1} {label:5} {code:8} in window {got['decided_in_window']:6}: "
                    f"wall {row['median_wall_ms']:7.1f} ms, server CPU "
                    f"{row['median_server_cpu_ms']:6.1f} ms, client CPU "
                    f"{row['median_client_cpu_ms']:6.1f} ms (load {load[0]:.2f})",
                    flush=True,
                )
                report.write_text(json.dumps(window, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--phase", choices=["window", "time", "compare"], required=True)
    parser.add_argument("--large", type=int, default=50_000)
    parser.add_argument("--small", type=int, default=7_000)
    parser.add_argument("--batch", type=int, default=10, help="phase window: items per call")
    parser.add_argument("--at", help="phase window: the later read time (ISO; default now)")
    parser.add_argument("--baseline", type=Path, help="phase compare: the code to compare with")
    parser.add_argument(
        "--baseline-python", help="phase compare: the interpreter for --baseline (its venv)"
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--now", help="phase time: the read time (ISO)")
    parser.add_argument("--report", type=Path, default=Path("dashboard-window.json"))
    args = parser.parse_args()
    if args.phase == "window":
        at = datetime.fromisoformat(args.at) if args.at else None
        phase_window(args.db, args.large, args.small, args.batch, at, args.report)
    elif args.phase == "time":
        phase_time(args.db, datetime.fromisoformat(args.now), args.runs)
    else:
        if args.baseline is None:
            parser.error("--baseline: the code to compare with")
        phase_compare(
            args.db, args.baseline, args.rounds, args.runs, args.report, args.baseline_python
        )


if __name__ == "__main__":
    main()
