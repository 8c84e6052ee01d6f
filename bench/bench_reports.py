"""Transparency report benchmark: `modqueue report transparency` over about a million
decisions, against a plain SQL aggregation of the same figures, in the same run.

    python bench/bench_reports.py --db postgresql+psycopg://u:pw@127.0.0.1/bench --items 1000000
    python bench/bench_reports.py --db sqlite:////tmp/bench_reports.db --items 1000000

1. Builds the data with set-based SQL (`INSERT ... SELECT` over `generate_series`, or a
   recursive CTE on SQLite), not through the pipeline: `--items` items flagged over the
   180 days of 2026-H2 (5 policies, a third from a trusted flagger), 95% decided, one
   primary decision each plus a blind second review for every tenth (one in three of
   those disagreeing); every eleventh decision is a bank match; half the decided items
   have an outbound action (done, declined or sent); one decided item in a hundred was
   appealed (a third of the appeals overturned).
2. Runs, each in a fresh subprocess that reports its own peak RSS (`ru_maxrss`):
   - baseline: the same figures (notices by source type and policy, actions by type and
     outcome, median and p90 hours to decision and to action, automated/human decisions,
     appeals, second-review agreement, deadline breaches) as plain GROUP BY queries on a
     bare DB-API connection, written as one JSON file;
   - `modqueue report transparency --period 2026-H2` (report.json, .md, .html with charts).
3. Prints wall and CPU seconds, peak RSS, the ratios to the baseline, and whether the
   counts of both agree.
"""

from __future__ import annotations

import argparse
import json
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from modqueue.queue import make_engine, migrate

BASE = "2026-07-01 00:00:00"
SPAN_S = 180 * 86400
POLICY = (
    "CASE g % 5 WHEN 0 THEN 'people-smuggling' WHEN 1 THEN 'drug-supply' "
    "WHEN 2 THEN 'doxxing' WHEN 3 THEN 'hate' ELSE 'violent-threats' END"
)


def _ts(pg: bool, seconds: str) -> str:
    if pg:
        return f"(TIMESTAMP '{BASE}' + ({seconds}) * INTERVAL '1 second')"
    return f"(datetime('{BASE}', '+' || ({seconds}) || ' seconds') || '.000000')"


def _series(pg: bool, n: int) -> str:
    if pg:
        return f"generate_series(1, {n}) AS s(g)"
    return (
        f"(WITH RECURSIVE r(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM r WHERE g < {n}) "
        "SELECT g FROM r) AS s"
    )


def build(db: str, n: int) -> float:
    """Create and fill the database; returns the seconds it took."""
    started = time.perf_counter()
    engine = make_engine(db)
    migrate(engine)
    pg = engine.dialect.name == "postgresql"
    flag = "(CAST(g AS BIGINT) * 7919) % " + str(SPAN_S)
    flagged = _ts(pg, flag)
    decided = _ts(pg, f"{flag} + (g % 9) * 3600")
    json_list = "'[]'::json" if pg else "'[]'"
    json_obj = "'{}'::json" if pg else "'{}'"
    series = _series(pg, n)
    with engine.begin() as conn:
        for table in ("appeal", "outbound_action", "decision", "item"):
            conn.execute(text(f"DELETE FROM {table}"))
        conn.execute(
            text(f"""INSERT INTO item (id, source, external_id, media, signals, report_count,
    views, queue, status, priority, priority_breakdown, ingested_at, updated_at,
    deadline_at, deadline_state, escalated, notice_type, trusted_flagger, policy, flagged_at,
    decided_at)
SELECT g, 'src-' || (g % 4), 'e' || g, {json_list}, {json_list}, g % 3, 0, {POLICY},
    CASE WHEN g % 20 = 0 THEN 'pending' ELSE 'decided' END, 0, {json_obj}, {flagged},
    {flagged}, {_ts(pg, f"{flag} + 4 * 3600")}, 'ok', FALSE,
    CASE g % 3 WHEN 0 THEN 'trusted_flagger' WHEN 1 THEN 'notice' ELSE 'own_initiative' END,
    CASE WHEN g % 3 = 0 THEN 'Example Police Referral Unit' END, {POLICY}, {flagged},
    CASE WHEN g % 20 = 0 THEN NULL ELSE {decided} END
FROM {series}""")
        )
        conn.execute(
            text(f"""INSERT INTO decision (id, item_id, reviewer, label, action, note,
    guideline_id, guideline_version, seconds_spent, decided_at, origin, kind, status)
SELECT g, g, 'rev-' || (g % 17), CASE WHEN g % 2 = 0 THEN 'remove-x' ELSE 'no-violation' END,
    CASE WHEN g % 2 = 0 THEN 'remove' ELSE 'none' END, '', {POLICY}, 'sha256:bench', 12.5,
    {decided}, CASE WHEN g % 11 = 0 THEN 'bank' ELSE 'api' END, 'primary', 'active'
FROM {series} WHERE g % 20 <> 0""")
        )
        conn.execute(
            text(f"""INSERT INTO decision (id, item_id, reviewer, label, action, note,
    guideline_id, guideline_version, seconds_spent, decided_at, origin, kind, status)
SELECT {n} + g, g, 'rev-' || ((g + 1) % 17),
    CASE WHEN g % 30 = 1 THEN 'restrict-x' WHEN g % 2 = 0 THEN 'remove-x'
        ELSE 'no-violation' END,
    CASE WHEN g % 30 = 1 THEN 'restrict' WHEN g % 2 = 0 THEN 'remove' ELSE 'none' END,
    '', {POLICY}, 'sha256:bench', 9.5, {_ts(pg, f"{flag} + (g % 9) * 3600 + 600")}, 'api',
    'second_review', 'active'
FROM {series} WHERE g % 20 <> 0 AND g % 10 = 1""")
        )
        conn.execute(
            text(f"""INSERT INTO outbound_action (id, item_id, decision_id, action, source,
    external_id, policy, label, reason, idempotency_key, status, attempts, next_attempt_at,
    created_at, updated_at)
SELECT g, g, g, 'remove', 'src-' || (g % 4), 'e' || g, {POLICY}, 'remove-x', 'Remove',
    'k' || g, CASE g % 7 WHEN 0 THEN 'declined' WHEN 1 THEN 'sent' ELSE 'done' END, 1,
    {decided}, {decided}, {_ts(pg, f"{flag} + (g % 9) * 3600 + (g % 5) * 3600 + 60")}
FROM {series} WHERE g % 20 <> 0 AND g % 2 = 0""")
        )
        conn.execute(
            text(f"""INSERT INTO appeal (item_id, note, opened_by, opened_at,
    appealed_decision_id, appealed_reviewer, appealed_label, status)
SELECT g, 'appeal', 'appeals', {_ts(pg, f"{flag} + 86400")}, g, 'rev-' || (g % 17),
    'remove-x', CASE WHEN g % 300 = 2 THEN 'overturned' ELSE 'upheld' END
FROM {series} WHERE g % 100 = 2""")
        )
        if pg:
            for table in ("item", "decision", "outbound_action"):
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT MAX(id) FROM {table}))"
                    )
                )
            conn.execute(text("ANALYZE"))
        else:
            conn.execute(text("ANALYZE"))
    engine.dispose()
    return time.perf_counter() - started


# -- the baseline: plain SQL on a bare DB-API connection ---------------------------------

_BASE_QUERIES = {
    "notices": """SELECT notice_type, COALESCE(policy, 'triage'), COUNT(*) FROM item
        WHERE flagged_at >= :since AND flagged_at < :until GROUP BY 1, 2""",
    "flaggers": """SELECT trusted_flagger, COUNT(*) FROM item WHERE trusted_flagger IS NOT NULL
        AND flagged_at >= :since AND flagged_at < :until GROUP BY 1""",
    "actions": """SELECT action, status, COUNT(*) FROM outbound_action
        WHERE created_at >= :since AND created_at < :until GROUP BY 1, 2""",
    "decisions": """SELECT COALESCE(i.policy, 'triage'),
        SUM(CASE WHEN d.origin IN ('bank', 'propagated') THEN 1 ELSE 0 END),
        SUM(CASE WHEN d.origin IN ('bank', 'propagated') THEN 0 ELSE 1 END)
        FROM decision d JOIN item i ON i.id = d.item_id
        WHERE d.status <> 'undone' AND d.action <> 'escalate'
        AND d.decided_at >= :since AND d.decided_at < :until GROUP BY 1""",
    "appeals": """SELECT COALESCE(i.policy, 'triage'), COUNT(*),
        SUM(CASE WHEN a.status = 'overturned' THEN 1 ELSE 0 END)
        FROM appeal a JOIN item i ON i.id = a.item_id
        WHERE a.opened_at >= :since AND a.opened_at < :until GROUP BY 1""",
    "second_review": """SELECT COALESCE(i.policy, 'triage'), COUNT(*),
        SUM(CASE WHEN s.label = p.label THEN 1 ELSE 0 END)
        FROM decision s JOIN decision p ON p.item_id = s.item_id AND p.kind = 'primary'
        JOIN item i ON i.id = s.item_id
        WHERE s.kind = 'second_review' AND s.decided_at >= :since AND s.decided_at < :until
        GROUP BY 1""",
    "breaches": """SELECT COALESCE(i.policy, 'triage'), COUNT(*),
        SUM(CASE WHEN (f.at IS NOT NULL AND f.at > i.deadline_at)
            OR (f.at IS NULL AND i.deadline_at < :until) THEN 1 ELSE 0 END)
        FROM item i LEFT JOIN (SELECT item_id, MIN(decided_at) AS at FROM decision
            WHERE status <> 'undone' GROUP BY item_id) f ON f.item_id = i.id
        WHERE COALESCE(i.flagged_at, i.ingested_at) >= :since
        AND COALESCE(i.flagged_at, i.ingested_at) < :until GROUP BY 1""",
}
_TO_DECISION = "EXTRACT(EPOCH FROM d.decided_at - i.flagged_at)"
_TO_ACTION = "EXTRACT(EPOCH FROM a.updated_at - i.flagged_at)"
_PG_TIMES = {
    "to_decision": f"""SELECT COALESCE(i.policy, 'triage'), COUNT(*),
        percentile_disc(0.5) WITHIN GROUP (ORDER BY {_TO_DECISION}),
        percentile_disc(0.9) WITHIN GROUP (ORDER BY {_TO_DECISION})
        FROM item i JOIN decision d ON d.item_id = i.id AND d.kind = 'primary'
        WHERE i.status = 'decided' AND i.flagged_at >= :since AND i.flagged_at < :until
        GROUP BY 1""",
    "to_action": f"""SELECT COALESCE(i.policy, 'triage'), COUNT(*),
        percentile_disc(0.5) WITHIN GROUP (ORDER BY {_TO_ACTION}),
        percentile_disc(0.9) WITHIN GROUP (ORDER BY {_TO_ACTION})
        FROM item i JOIN outbound_action a ON a.item_id = i.id AND a.status = 'done'
        WHERE i.flagged_at >= :since AND i.flagged_at < :until GROUP BY 1""",
}


def _sqlite_times(expr_join: str, seconds: str) -> str:
    return f"""WITH d AS (SELECT COALESCE(i.policy, 'triage') AS policy, {seconds} AS s
        FROM item i {expr_join} WHERE i.flagged_at >= :since AND i.flagged_at < :until),
    r AS (SELECT policy, s, ROW_NUMBER() OVER (PARTITION BY policy ORDER BY s) AS rn,
        COUNT(*) OVER (PARTITION BY policy) AS n FROM d)
    SELECT policy, MAX(n), MIN(CASE WHEN rn >= 0.5 * n THEN s END),
        MIN(CASE WHEN rn >= 0.9 * n THEN s END) FROM r GROUP BY policy"""


_SQLITE_TIMES = {
    "to_decision": _sqlite_times(
        "JOIN decision d ON d.item_id = i.id AND d.kind = 'primary' AND i.status = 'decided'",
        "(julianday(d.decided_at) - julianday(i.flagged_at)) * 86400.0",
    ),
    "to_action": _sqlite_times(
        "JOIN outbound_action a ON a.item_id = i.id AND a.status = 'done'",
        "(julianday(a.updated_at) - julianday(i.flagged_at)) * 86400.0",
    ),
}


def baseline(db: str, out: Path) -> None:
    """The plain aggregation: bare driver, literal SQL, rows dumped as JSON."""
    pg = db.startswith("postgresql")
    queries = {**_BASE_QUERIES, **(_PG_TIMES if pg else _SQLITE_TIMES)}
    since, until = "2026-07-01 00:00:00.000000", "2027-01-01 00:00:00.000000"
    results: dict[str, Any] = {}
    if pg:
        import psycopg

        url = db.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(url) as conn:
            for name, sql in queries.items():
                psql = sql.replace(":since", "%(since)s").replace(":until", "%(until)s")
                rows = conn.execute(psql, {"since": since, "until": until}).fetchall()
                results[name] = [[str(v) if v is not None else None for v in r] for r in rows]
    else:
        lite = sqlite3.connect(db.removeprefix("sqlite:///"))
        for name, sql in queries.items():
            rows = lite.execute(sql, {"since": since, "until": until}).fetchall()
            results[name] = [[str(v) if v is not None else None for v in r] for r in rows]
        lite.close()
    out.mkdir(parents=True, exist_ok=True)
    (out / "baseline.json").write_text(json.dumps(results, indent=1), encoding="utf-8")


def report(db: str, out: Path) -> None:
    """The real command, in process."""
    from modqueue.cli import app

    app(
        ["report", "transparency", "--db", db, "--period", "2026-H2", "--out", str(out)],
        standalone_mode=False,
    )


def child(kind: str, db: str, out: Path) -> None:
    """Run one side and print its wall and CPU seconds and peak RSS as JSON."""
    started, cpu = time.perf_counter(), time.process_time()
    (baseline if kind == "baseline" else report)(db, out)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "wall_s": time.perf_counter() - started,
                "cpu_s": time.process_time() - cpu,
                "peak_mib": peak_kib / 1024,
            }
        )
    )


def _run(kind: str, db: str, out: Path) -> dict[str, float]:
    result = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--db", db, "--out", str(out)],
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def _agree(out: Path) -> bool:
    base = json.loads((out / "baseline" / "baseline.json").read_text())
    data = json.loads((out / "report" / "report.json").read_text())
    notices = sum(int(r[2]) for r in base["notices"])
    actions = sum(int(r[2]) for r in base["actions"])
    automated = sum(int(r[1]) for r in base["decisions"])
    appeals = sum(int(r[1]) for r in base["appeals"])
    reviewed = sum(int(r[1]) for r in base["second_review"])
    return (notices, actions, automated, appeals, reviewed) == (
        data["notices"]["total"],
        data["actions"]["total"],
        data["decisions"]["automated"],
        data["appeals"]["received"],
        data["second_review"]["reviewed"],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--reuse", action="store_true", help="Keep the data already built.")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--child", choices=["baseline", "report"])
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.db, args.out)
        return
    if not args.reuse:
        built = build(args.db, args.items)
        print(f"built {args.items:,} items in {built:.0f} s")
    engine = create_engine(args.db)
    with engine.connect() as conn:
        decisions = conn.execute(text("SELECT COUNT(*) FROM decision")).scalar_one()
    engine.dispose()
    print(f"{decisions:,} decisions")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        for round_ in range(1, args.rounds + 1):
            base = _run("baseline", args.db, out / "baseline")
            mine = _run("report", args.db, out / "report")
            print(
                f"round {round_}: baseline {base['wall_s']:.1f} s wall, {base['cpu_s']:.1f} s "
                f"CPU, {base['peak_mib']:.0f} MiB | report transparency {mine['wall_s']:.1f} s "
                f"wall, {mine['cpu_s']:.1f} s CPU, {mine['peak_mib']:.0f} MiB | ratio wall "
                f"{mine['wall_s'] / base['wall_s']:.2f}x, peak RSS "
                f"{mine['peak_mib'] / base['peak_mib']:.2f}x | counts agree: {_agree(out)}"
            )


if __name__ == "__main__":
    main()
