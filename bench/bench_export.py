"""Export benchmark: `modqueue export` against a plain SQL-to-JSONL dump of the same rows.

    python bench/bench_export.py [--n 1000000] [--db /tmp/bench_export.db] [--reuse]

1. Builds a SQLite database of `--n` decided items (bulk `executemany` inserts): one
   primary decision each, plus a second-review decision for every tenth item; texts
   carry emails and phone numbers, items carry reporters and authors.
2. Runs, each in a fresh subprocess that reports its own peak RSS (`ru_maxrss`):
   - baseline: one `SELECT item JOIN decision` streamed through `sqlite3` and written as
     one JSON line per row (no grouping, pseudonyms, masking or splits);
   - `export_dataset(..., fmt="jsonl")` of every item;
   - `export_dataset(..., fmt="parquet")` of every item;
   - `export_dataset(..., fmt="jsonl", policy=...)` of a fifth of the items (memory
     must not depend on how many items are exported).
3. Prints wall and CPU seconds, items per CPU second (the machine may be shared, so
   wall-clock rates depend on other load), peak RSS (VmHWM), and the ratios of rate and
   peak RSS to the baseline.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from modqueue.queue import make_engine, migrate

POLICIES = ["people-smuggling", "drug-supply", "doxxing", "hate", "violent-threats"]
LABELS = {
    "people-smuggling": ("remove-ban-refer", "refer_law_enforcement"),
    "drug-supply": ("remove-supply", "remove"),
    "doxxing": ("remove-personal-info", "remove"),
    "hate": ("remove-hate", "remove"),
    "violent-threats": ("remove-glorification", "remove"),
}
WORDS = [
    "boat",
    "crossing",
    "channel",
    "offer",
    "beach",
    "tonight",
    "documents",
    "passport",
    "delivery",
    "europe",
    "job",
    "farm",
    "cash",
    "quick",
    "police",
    "raid",
    "photo",
    "address",
    "wanted",
    "share",
    "post",
    "video",
    "threat",
    "gun",
    "street",
    "mosque",
    "church",
    "family",
    "friend",
    "market",
    "price",
    "guaranteed",
    "arrival",
    "safe",
    "route",
    "driver",
    "truck",
]
STAMP = "2026-11-24 09:00:00.000000"
CHUNK = 50_000


def build(path: Path, n: int) -> None:
    """A migrated SQLite database with `n` decided items, inserted in bulk."""
    path.unlink(missing_ok=True)
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    engine.dispose()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    item_sql = (
        "INSERT INTO item (id, source, external_id, text, url, media, author_id, author_handle,"
        " policy, signals, report_count, views, flagged_at, queue, status, priority,"
        " priority_breakdown, reporter, ingested_at, updated_at, deadline_at, deadline_state,"
        " escalated, decided_at, final_label) VALUES"
        " (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
    )
    decision_sql = (
        "INSERT INTO decision (item_id, reviewer, label, action, note, guideline_id,"
        " guideline_version, seconds_spent, decided_at, origin, kind, status)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
    )
    started = time.perf_counter()
    for start in range(1, n + 1, CHUNK):
        items: list[tuple[Any, ...]] = []
        decisions: list[tuple[Any, ...]] = []
        for i in range(start, min(start + CHUNK, n + 1)):
            policy = POLICIES[i % len(POLICIES)]
            label, action = LABELS[policy]
            words = " ".join(WORDS[(i * k) % len(WORDS)] for k in (3, 7, 11, 13, 17, 19))
            text = f"post {i}: {words} call +44 7700 {i % 1000000:06d} or mail u{i}@example.com"
            media = (
                f'[{{"kind": "image", "url": "https://cdn.example/{i}.jpg"}}]' if i % 3 else "[]"
            )
            items.append(
                (
                    i,
                    "bench",
                    f"b-{i}",
                    text,
                    f"https://platform.example/p/{i}",
                    media,
                    f"author-{i % 50000}",
                    f"@handle{i % 50000}",
                    policy,
                    "[]",
                    1,
                    10,
                    STAMP,
                    policy,
                    "decided",
                    0.0,
                    "{}",
                    f'{{"id": "reporter-{i}", "contact": "rep{i}@example.org"}}',
                    STAMP,
                    STAMP,
                    STAMP,
                    "ok",
                    0,
                    STAMP,
                    label,
                )
            )
            common = (label, action, "", policy, "sha256:bench", 12.5, STAMP)
            decisions.append((i, f"Reviewer Name {i % 40}", *common, "tui", "primary", "active"))
            if i % 10 == 0:
                reviewer = f"Reviewer Name {(i + 1) % 40}"
                decisions.append((i, reviewer, *common, "tui", "second_review", "active"))
        conn.executemany(item_sql, items)
        conn.executemany(decision_sql, decisions)
        conn.commit()
    conn.close()
    print(f"built {n:,} decided items in {time.perf_counter() - started:.1f}s")


# VmHWM: this process's peak RSS (ru_maxrss would carry the parent's over exec).
# CPU seconds too: on a shared machine wall-clock rates depend on everyone else's load.
PEAK = """
import resource as _resource


def cpu_seconds():
    usage = _resource.getrusage(_resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM")
"""

BASELINE = (
    PEAK
    + """
import json, sqlite3, sys, time
db, out = sys.argv[1], sys.argv[2]
start, cpu0 = time.perf_counter(), cpu_seconds()
conn = sqlite3.connect(db)
rows = conn.execute(
    "SELECT i.id, i.source, i.external_id, i.text, i.url, i.media, i.author_id, i.policy,"
    " i.final_label, i.decided_at, d.reviewer, d.label, d.action, d.origin, d.seconds_spent,"
    " d.kind, d.guideline_version, d.decided_at FROM item i JOIN decision d ON d.item_id = i.id"
    " WHERE i.final_label IS NOT NULL ORDER BY i.id, d.id"
)
items, last = 0, None
with open(out, "w", encoding="utf-8") as f:
    for row in rows:
        f.write(json.dumps(row, ensure_ascii=False))
        f.write("\\n")
        if row[0] != last:
            items, last = items + 1, row[0]
print(json.dumps({"items": items, "seconds": time.perf_counter() - start,
                  "cpu": cpu_seconds() - cpu0, "rss_kb": peak_kb()}))
"""
)

EXPORT = (
    PEAK
    + """
import json, os, sys, time
from datetime import UTC, datetime
from pathlib import Path
from modqueue.integrations.export import export_dataset
from modqueue.queue import make_engine
db, out, fmt, policy = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] or None
os.environ.setdefault("MODQUEUE_EXPORT_KEY", "bench-key-0123456789abcdef")
start, cpu0 = time.perf_counter(), cpu_seconds()
engine = make_engine("sqlite:///" + db)
report = export_dataset(engine, out=Path(out), now=datetime.now(UTC), fmt=fmt, policy=policy)
print(json.dumps({"items": report.records, "seconds": time.perf_counter() - start,
                  "cpu": cpu_seconds() - cpu0, "rss_kb": peak_kb()}))
"""
)


def run(code: str, *args: str) -> dict[str, Any]:
    """Run `code` in a fresh interpreter; its last stdout line is a JSON result."""
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="decided items")
    parser.add_argument("--db", type=Path, default=Path("/tmp/bench_export.db"))
    parser.add_argument("--out", type=Path, default=Path("/tmp/bench_export_out"))
    parser.add_argument("--reuse", action="store_true", help="keep an existing database")
    args = parser.parse_args()
    if not (args.reuse and args.db.exists()):
        build(args.db, args.n)
    args.out.mkdir(parents=True, exist_ok=True)
    base = run(BASELINE, str(args.db), str(args.out / "baseline.jsonl"))
    runs = {
        "export jsonl": run(EXPORT, str(args.db), str(args.out / "jsonl"), "jsonl", ""),
        "export parquet": run(EXPORT, str(args.db), str(args.out / "parquet"), "parquet", ""),
        "export jsonl, 1/5 (--policy hate)": run(
            EXPORT, str(args.db), str(args.out / "hate"), "jsonl", "hate"
        ),
    }
    print(
        f"{'run':<36}{'items':>11}{'wall s':>9}{'CPU s':>8}{'items/CPU s':>13}"
        f"{'peak RSS MiB':>14}{'speed':>8}{'RSS':>7}"
    )
    base_rate = base["items"] / base["cpu"]

    def line(name: str, r: dict[str, Any]) -> None:
        rate = r["items"] / r["cpu"]
        rss = r["rss_kb"] / base["rss_kb"]
        print(
            f"{name:<36}{r['items']:>11,}{r['seconds']:>9.1f}{r['cpu']:>8.1f}{rate:>13,.0f}"
            f"{r['rss_kb'] / 1024:>14.1f}{rate / base_rate:>7.2f}x{rss:>6.2f}x"
        )

    line("baseline SQL -> JSONL dump", base)
    for name, r in runs.items():
        line(name, r)


if __name__ == "__main__":
    main()
