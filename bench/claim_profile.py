"""Round trips and statement times of one `claim_next` and one `decide`: numbers that do
not depend on the machine's load.

    python bench/claim_profile.py --db postgresql://sb:sbpw@127.0.0.1:5441/claim_bench \\
        [--claims 50] [--log /var/log/postgresql/postgresql-15-scalebench.log]
    python bench/claim_profile.py --db sqlite:///bench.db

Claims `--claims` items one by one (20 reviewers `--reviewers`-0.., open mode, every
queue but the senior ones), then decides them, and prints per call:

- client side (both backends): the statements the driver was given
  (`before_cursor_execute`, which `Prepared` statements fire too), the transactions'
  `BEGIN` and `COMMIT`, and on PostgreSQL the pool's pre-ping (`SELECT 1`) on checkout;
  the round trips are their sum (SQLite has none: it runs in-process);
- server side (PostgreSQL, with `--log`): this connection's statements as the server
  logged them (`log_min_duration_statement = 0` set on the benchmark's own connections
  only), with their durations: how many per call and the time the server spent.

The claimed items stay claimed until they are decided: run it on a scratch database.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import event

from modqueue.queue import ReviewQueue

_LINE = re.compile(
    r"\[(\d+)\] .*?duration: ([0-9.]+) ms\s+"
    r"(?:statement|execute [^:]*|bind [^:]*|parse [^:]*): (.*)"
)


def _kind(sql: str) -> str:
    """A short name for a statement: its verb and main table."""
    words = sql.strip().split()
    head = words[0].upper() if words else "?"
    if head in ("UPDATE", "INSERT") and len(words) > 2:  # UPDATE t / INSERT INTO t
        return f"{head} {words[1] if head == 'UPDATE' else words[2]}"
    low = sql.lower()
    for table in (
        "audit_event",
        "exposure_event",
        "outbound_action",
        "decision",
        "item",
        "reviewer",
    ):
        if table in low:
            return f"{head} {table}"
    return head


class _Counts:
    def __init__(self) -> None:
        self.statements = 0
        self.begins = 0
        self.commits = 0
        self.pings = 0
        self.kinds: Counter[str] = Counter()


def _watch(q: ReviewQueue, counts: _Counts) -> list[tuple[str, Callable[..., None]]]:
    """Count `q.engine`'s statements, BEGINs, COMMITs and pings into `counts`; returns
    the listeners (to remove)."""
    pg = q.engine.dialect.name == "postgresql"

    def statement(conn: Any, cursor: Any, sql: str, *_: Any) -> None:
        counts.statements += 1
        counts.kinds[_kind(sql)] += 1

    def begin(conn: Any) -> None:
        if pg:  # psycopg sends BEGIN before the first statement; SQLite's is a statement
            counts.begins += 1

    def commit(conn: Any) -> None:
        counts.commits += 1

    def checkout(*_: Any) -> None:
        if pg and q.engine.pool._pre_ping:  # `SELECT 1` on every checkout
            counts.pings += 1

    listeners: list[tuple[str, Callable[..., None]]] = [
        ("before_cursor_execute", statement),
        ("begin", begin),
        ("commit", commit),
        ("checkout", checkout),
    ]
    for name, fn in listeners:
        event.listen(q.engine, name, fn)
    return listeners


def _server_lines(log: Path, offset: int, pids: set[str]) -> list[tuple[float, str, bool]]:
    """`(ms, sql, a statement run: not its parse or bind step)` of the logged lines of
    `pids` from `offset` on."""
    out = []
    with log.open("rb") as f:
        f.seek(offset)
        for raw in f.read().decode(errors="replace").splitlines():
            m = _LINE.search(raw)
            if m and m.group(1) in pids:
                step = raw[m.end(2) :].split()[1] if len(raw) > m.end(2) else ""
                out.append((float(m.group(2)), m.group(3), step in ("statement:", "execute")))
    return out


def _phase(
    q: ReviewQueue, name: str, calls: int, work: Callable[[int], Any], log: Path | None
) -> dict[str, Any]:
    counts = _Counts()
    listeners = _watch(q, counts)
    offset = log.stat().st_size if log else 0
    took = []
    for k in range(calls):
        t0 = time.perf_counter()
        work(k)
        took.append(time.perf_counter() - t0)
    out: dict[str, Any] = {
        "calls": calls,
        "statements_per_call": round(counts.statements / calls, 2),
        "round_trips_per_call": round(
            (counts.statements + counts.begins + counts.commits + counts.pings) / calls, 2
        ),
        "begin_commit_ping_per_call": round(
            (counts.begins + counts.commits + counts.pings) / calls, 2
        ),
        "statement_kinds_per_call": {k: round(v / calls, 2) for k, v in counts.kinds.items()},
        "client_ms_median": round(statistics.median(took) * 1000, 2),
    }
    for listener_name, fn in listeners:
        event.remove(q.engine, listener_name, fn)
    if log is not None:
        time.sleep(0.5)  # let the server flush its log
        lines = _server_lines(log, offset, {str(p) for p in _PIDS})
        # Each statement's parse, bind and execute steps are logged apart: a statement
        # is counted once, its time is the sum of its steps.
        by_kind: dict[str, list[float]] = {}
        runs: Counter[str] = Counter()
        for ms, sql, run in lines:
            by_kind.setdefault(_kind(sql), []).append(ms)
            runs[_kind(sql)] += run
        out["server"] = {
            "statements_per_call": round(sum(runs.values()) / calls, 2),
            "ms_per_call": round(sum(ms for ms, _, _ in lines) / calls, 3),
            "by_kind": {
                k: {
                    "per_call": round(runs[k] / calls, 2),
                    "ms_per_call": round(sum(v) / calls, 3),
                }
                for k, v in sorted(by_kind.items())
            },
        }
    print(f"== {name}\n{json.dumps(out, indent=2)}", flush=True)
    return out


_PIDS: set[int] = set()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--claims", type=int, default=50)
    parser.add_argument("--log", type=Path, default=None, help="the PostgreSQL server log")
    parser.add_argument(
        "--reviewers",
        default="mod",
        help="reviewer name prefix (20 reviewers; a new prefix: none near an exposure budget)",
    )
    args = parser.parse_args()
    q = ReviewQueue(args.db)
    pg = q.engine.dialect.name == "postgresql"
    if pg:

        @event.listens_for(q.engine, "connect")
        def _logged(dbapi_conn: Any, _record: Any) -> None:
            with dbapi_conn.cursor() as cur:
                cur.execute("SET log_min_duration_statement = 0")
                cur.execute("SELECT pg_backend_pid()")
                _PIDS.add(int(cur.fetchone()[0]))
            dbapi_conn.commit()

        q.engine.dispose()
    labels: dict[str, str] = {}
    for g in q.guidelines:
        labels[g.id] = next(lab.id for lab in g.labels if lab.action == "none")
    reviewers = [f"{args.reviewers}-{k}" for k in range(20)]
    claims: list[Any] = []
    q.claim_next(reviewers[0])  # warm up: statements compiled and prepared
    log = args.log if pg else None
    _phase(
        q, "claim_next", args.claims, lambda k: claims.append(q.claim_next(reviewers[k % 20])), log
    )
    _phase(
        q,
        "decide",
        len(claims),
        lambda k: q.decide(claims[k], labels[claims[k].item.policy or "triage"]),
        log,
    )
    q.close()


if __name__ == "__main__":
    main()
