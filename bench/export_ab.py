"""Two checkouts' JSON Lines exports of one PostgreSQL database, alternating, each against a
`COPY` of the same columns run just before it (issue 17: at least 0.5x of the `COPY`).

    python bench/export_ab.py --db postgresql://sb:sbpw@127.0.0.1:5441/export3_bench \\
        --baseline /tmp/main-checkout --rounds 4

Every export runs in a child process whose `PYTHONPATH` puts a checkout first (this
worktree for `new`, `--baseline` for `base`), with the same export key and the same
`now`, so both write the same bytes: the script checks that every round's split files
and dataset card are identical between them. `--workers N` adds this checkout's export
with `workers=N` (`export_dataset`'s worker processes) to every round. The database is
not migrated by any child (`make_engine` only). A first `COPY` warms the cache; then
each round runs `COPY` and an export for each run in turn (the order flips every
round). Reported per
export: wall seconds, the child's CPU seconds (user + system) and its worker processes
(`RUSAGE_CHILDREN`), the peak RSS of the child and of its largest worker, the `COPY`
seconds before it, the ratio (`COPY` / export) and the 1-minute load average.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

HERE = Path(__file__).resolve().parent.parent
COPY_SQL = """
COPY (
SELECT i.id, i.source, i.external_id, i.text, i.url, i.media, i.author_id, i.policy,
       i.final_label, i.decided_at, d.reviewer, d.label, d.action, d.origin,
       d.seconds_spent, d.kind, d.status, d.guideline_id, d.guideline_version, d.decided_at,
       i.cluster_id
FROM item i JOIN decision d ON d.item_id = i.id
WHERE i.final_label IS NOT NULL AND d.status != 'undone'
ORDER BY i.id, d.id
) TO STDOUT
"""
CHILD = """
import json, resource, sys, time
from datetime import datetime
from pathlib import Path
from modqueue.integrations.export import export_dataset
from modqueue.queue import make_engine
import modqueue
engine = make_engine(sys.argv[1])
def children():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime
t0, c0, w0 = time.perf_counter(), time.process_time(), children()
extra = {"workers": int(sys.argv[4])} if sys.argv[4] else {}
report = export_dataset(
    engine, out=Path(sys.argv[2]), now=datetime.fromisoformat(sys.argv[3]), **extra
)
wall, cpu, workers = time.perf_counter() - t0, time.process_time() - c0, children() - w0
print(json.dumps({"records": report.records, "wall": wall, "cpu": cpu, "workers_cpu": workers,
                  "code": modqueue.__file__,
                  "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "worker_rss_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""
NOW = "2026-12-01T12:00:00+00:00"


def copy_seconds(url: str, out: Path) -> tuple[float, int]:
    import psycopg

    conninfo = make_url(url).set(drivername="postgresql").render_as_string(False)
    t0 = time.perf_counter()
    rows = 0
    with (
        psycopg.connect(conninfo) as conn,
        conn.cursor() as cur,
        (out / "copy.tsv").open("wb") as f,
        cur.copy(COPY_SQL) as copy,
    ):
        for block in copy:
            f.write(block)
            rows += 1
    (out / "copy.tsv").unlink()
    return time.perf_counter() - t0, rows


def export_in_child(url: str, checkout: Path, out: Path, workers: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    env.setdefault("MODQUEUE_EXPORT_KEY", "export-ab-bench-key-0123456789abcdef")
    done = subprocess.run(
        [sys.executable, "-c", CHILD, url, str(out), NOW, workers],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        cwd=out.parent,
    )
    got: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["code"].startswith(str(checkout)), got["code"]
    return got


def digest(out: Path) -> dict[str, str]:
    # Streamed: a child's peak RSS on Linux includes this process's at its fork, so
    # reading whole files here would inflate every later child's figure.
    found = {}
    for path in sorted(out.iterdir()):
        with path.open("rb") as f:
            found[path.name] = hashlib.file_digest(f, "sha256").hexdigest()[:16]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--baseline", type=Path, required=True, help="the other checkout")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--workers",
        type=int,
        action="append",
        default=[],
        help="also run this checkout's export with `workers=N` every round (repeatable)",
    )
    parser.add_argument("--report", type=Path, default=Path("export-ab.json"))
    args = parser.parse_args()
    # name: (checkout, `workers` argument; "" for the checkout's default)
    runs = {"base": (args.baseline.resolve(), ""), "new": (HERE, "")}
    for n in args.workers:
        runs[f"new-w{n}"] = (HERE, str(n))
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(dir=os.environ.get("SCALE_TMP")) as tmp:
        root = Path(tmp)
        warm, rows = copy_seconds(args.db, root)
        print(f"warm-up COPY: {warm:.2f} s, {rows:,} rows", flush=True)
        for k in range(args.rounds):
            order = list(runs) if k % 2 == 0 else list(reversed(runs))
            digests = {}
            for name in order:
                out = root / f"{name}-{k}"
                load = os.getloadavg()[0]
                copy_s, _ = copy_seconds(args.db, root)
                checkout, workers = runs[name]
                got = export_in_child(args.db, checkout, out, workers)
                digests[name] = digest(out)
                row = {
                    "round": k + 1,
                    "code": name,
                    "load_1m": round(load, 2),
                    "records": got["records"],
                    "copy_s": round(copy_s, 2),
                    "export_s": round(got["wall"], 2),
                    "export_cpu_s": round(got["cpu"], 2),
                    "workers_cpu_s": round(got["workers_cpu"], 2),
                    "rss_mib": round(got["rss_mib"], 1),
                    "worker_rss_mib": round(got["worker_rss_mib"], 1),
                    "ratio": round(copy_s / got["wall"], 3),
                }
                results.append(row)
                print(json.dumps(row), flush=True)
                for path in out.iterdir():
                    path.unlink()
                out.rmdir()
            same = all(d == digests["base"] for d in digests.values())
            print(f"round {k + 1}: identical files: {same} {digests['new']}", flush=True)
            results.append({"round": k + 1, "identical": same, "digests": digests})
    args.report.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
