"""Scale benchmark: N items on one PostgreSQL, then the hot paths measured at that size.

    python bench/scale.py --db postgresql://user:pw@127.0.0.1/scale --items 10000000
    python bench/scale.py --db ... --items 1000000 --phase measure --report /tmp/scale.json

Phases (`--phase all` runs build, measure and explain in turn):

1. `build`: N items of the seven bundled policies through the product's own ingest
   (`ingest_values`, what `ReviewQueue.enqueue` runs; batches of 5,000, `--workers`
   processes on contiguous ranges; `--no-fingerprint` leaves out issue 13's near-duplicate
   fingerprinting and its tables),
   each with its own made-up words (no two items near duplicates: texts differing only in
   digits would cluster and fold into floods), and 30% of them decided through the
   product's bulk decide (`decide_items`, public in `modqueue.queue`): 5,000 items per
   transaction, per policy one set with its takedown label (a third of the items) and one
   with its no-action label, the product's second-review share sampled as a cluster
   decision samples it (those items wait in `<policy>:second`), `--workers` processes on
   contiguous slices. So the audit trail is the product's own (ingested, decided;
   hash-chained) and every takedown has its outbox row.
   The build runs in chunks of 100,000 items over a simulated year (chunk k at day
   365*k/chunks, 2025-12-01 onwards; the audit partitions of those months are created
   first, as an operator backfilling would), each chunk ingested then decided to 30% of
   what is in. It prints progress and rates and is resumable: a re-run counts what is
   there and carries on (ingest is idempotent, decisions continue to 30%).
2. `measure`: claim_next p50/p99 (1,000 claims, each released), decide p99 (300
   claim+decide), stats and dashboard query time (5 runs each), export of the decided
   items against a plain `COPY (SELECT same columns) TO STDOUT` into a file, a full
   `audit verify` (time and peak RSS, in a child process) and an incremental one from a
   checkpoint, and bytes per item on disk (database size / items).
`seniors` (issue 17) escalates the `--seniors` highest-priority pending items through the
product, so senior-queue items sit on top of the priority order; `claims` runs only the
claim_next/decide part of `measure` and appends it to the report (for alternating runs).
`export` (issue 17) runs `--rounds` rounds of the `COPY` baseline then the JSON Lines
export (with `--general`, then `COPY` and the general path too), each ratio against its
own round's `COPY`, and appends them to the report.
3. `explain`: `EXPLAIN (ANALYZE, BUFFERS)` of the slowest statement each of claim_next,
   decide, stats, dashboard and the audit append issue (captured from the product's own
   calls, writes run inside a rolled-back transaction), into `--plans`.

Writes its numbers as JSON to `--report`. The machine is shared: see bench/RESULTS.md for
the conditions of each recorded run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing as mp
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import event, text
from sqlalchemy.engine import make_url

from modqueue.integrations.export import export_dataset
from modqueue.queue import (
    ReviewQueue,
    decide_items,
    ingest_values,
    latest_checkpoint,
    sampled_for_second_review,
    verify_chain,
    verify_since,
    write_checkpoint,
)
from modqueue.settings import load_settings

POLICIES = [
    "doxxing",
    "drug-supply",
    "hate",
    "image-abuse",
    "people-smuggling",
    "triage",
    "violent-threats",
]
WORDS = "boat crossing channel offer beach tonight documents passport delivery pills address"
WORDS_LIST = WORDS.split()
SYLLABLES = [c + v for c in "bdfghjklmnprstvwz" for v in "aeiou"]


def made_up_word(x: int) -> str:
    """A letters-only word from the bits of `x` (three syllables of 85)."""
    n = len(SYLLABLES)
    return SYLLABLES[x % n] + SYLLABLES[(x // n) % n] + SYLLABLES[(x // n // n) % n]


def words_of(n: int) -> str:
    """Item n's own words: eight made-up words drawn from a hash of n, so no two items
    are near duplicates (texts differing only in digits would cluster and fold into
    floods), and three of the topical words."""
    digest = hashlib.blake2b(n.to_bytes(8, "big"), digest_size=24).digest()
    made = [made_up_word(int.from_bytes(digest[3 * k : 3 * k + 3], "big")) for k in range(8)]
    topical = [WORDS_LIST[(n * k) % len(WORDS_LIST)] for k in (1, 3, 7)]
    return " ".join(made[:4] + topical + made[4:])


CHUNK = 100_000
DECIDED_SHARE = 0.30
DECIDE_BATCH = 5_000
INGEST_BATCH = 5_000
START = datetime(2025, 12, 1, 8, 0, tzinfo=UTC)
REVIEWERS = [f"mod-{k}" for k in range(20)]
EXPORT_COLUMNS = (
    "i.id, i.source, i.external_id, i.text, i.url, i.media, i.author_id, i.policy, "
    "i.final_label, i.decided_at, d.reviewer, d.label, d.action, d.origin, d.seconds_spent, "
    "d.kind, d.guideline_version, d.decided_at"
)


def log(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", flush=True)


class SimClock:
    """The build's clock: set per chunk, ticking one millisecond per read."""

    def __init__(self) -> None:
        self.at = START

    def __call__(self) -> datetime:
        self.at += timedelta(milliseconds=1)
        return self.at


def item(n: int) -> dict[str, Any]:
    """Item n of the build: deterministic, so a re-run ingests the same items."""
    words = words_of(n)
    return {
        "source": "scale",
        "external_id": f"s-{n}",
        "text": f"item {n}: {words}",
        "url": f"https://social.example.com/p/{n}",
        "author": {"id": f"acct-{n % 50_000}", "handle": f"@user{n % 50_000}"},
        "policy": POLICIES[n % len(POLICIES)],
        "signals": [{"name": "clf-v3", "score": ((n * 7919) % 1000) / 1000}],
        "report_count": (n * 31) % 40,
        "views": (n * 104_729) % 3_000_000,
    }


def open_queue(url: str, clock: Callable[[], datetime] | None = None) -> ReviewQueue:
    settings = load_settings(database_url=url)
    return ReviewQueue(settings=settings, clock=clock or (lambda: datetime.now(UTC)))


def counts(q: ReviewQueue) -> tuple[int, int]:
    """(items of the build, of which decided: final, or sent on to a second review)."""
    with q.read_session() as s:
        row = s.execute(
            text(
                "SELECT count(*), count(*) FILTER (WHERE status = 'decided' "
                "OR queue LIKE :second) FROM item WHERE source = 'scale'"
            ),
            {"second": "%:second"},
        ).one()
    return int(row[0]), int(row[1])


def labels_for(q: ReviewQueue) -> dict[str, tuple[str, str]]:
    """Per policy: the no-action label and a takedown label (never `escalate`)."""
    out = {}
    for policy in POLICIES:
        g = q.guidelines.get(policy)
        quiet = next(lab.id for lab in g.labels if lab.action == "none")
        loud = next(lab.id for lab in g.labels if lab.action not in ("none", "escalate"))
        out[policy] = (quiet, loud)
    return out


def create_months(q: ReviewQueue, months: int) -> None:
    with q.session() as s:
        for k in range(months + 1):
            month = (START.replace(day=1) + timedelta(days=31 * k)).replace(day=1)
            s.execute(
                text("SELECT modqueue_audit_partition(:m)"), {"m": month.replace(tzinfo=None)}
            )


def ingest_range(q: ReviewQueue, lo: int, hi: int, fingerprint: bool = True) -> None:
    """Items `lo..hi-1` through the product's ingest (`ingest_values`, what
    `ReviewQueue.enqueue` calls), in batches of `INGEST_BATCH` (each its own
    transaction); `fingerprint=False` skips near-duplicate fingerprinting (`--no-fingerprint`)."""
    for start in range(lo, hi, INGEST_BATCH):
        stop = min(hi, start + INGEST_BATCH)
        report = ingest_values(
            q,
            [item(n) for n in range(start, stop)],
            actor="scale",
            batch_size=INGEST_BATCH,
            fingerprint=fingerprint,
        )
        assert not report.rejected, report.rejected[:3]


def ingest_worker(url: str, at: datetime, lo: int, hi: int, fingerprint: bool = True) -> None:
    """One ingest process: items `lo..hi-1`, the build's clock at `at`."""
    clock = SimClock()
    clock.at = at
    q = open_queue(url, clock)
    try:
        ingest_range(q, lo, hi, fingerprint)
    finally:
        q.close()


def ingest_to(
    url: str, at: datetime, lo: int, hi: int, workers: int, fingerprint: bool = True
) -> None:
    """Items `lo..hi-1`, in `workers` processes side by side (contiguous ranges, each in
    batches of `INGEST_BATCH`: ingest is safe to run concurrently)."""
    size = -(-(hi - lo) // max(1, workers))
    jobs = [(url, at, a, min(hi, a + size), fingerprint) for a in range(lo, hi, size)]
    if len(jobs) == 1:
        ingest_worker(*jobs[0])
        return
    with mp.get_context("spawn").Pool(len(jobs)) as pool:
        pool.starmap(ingest_worker, jobs)


Open = tuple[int, str, str, str]
"""A pending item the build may decide: (id, policy, source, external_id)."""


def open_items(q: ReviewQueue, want: int) -> list[Open]:
    """The first `want` pending items of the build in their policy's own queue (not in
    a senior or second-review queue), in id order."""
    with q.read_session() as s:
        rows = s.execute(
            text(
                "SELECT id, policy, source, external_id FROM item WHERE source = 'scale' "
                "AND status = 'pending' AND queue NOT LIKE :senior "
                "AND queue NOT LIKE :second ORDER BY id LIMIT :n"
            ),
            {"n": want, "senior": "%:senior", "second": "%:second"},
        ).all()
    return [(int(r[0]), str(r[1]), str(r[2]), str(r[3])) for r in rows]


def decide_slice(
    q: ReviewQueue, labels: dict[str, tuple[str, str]], rows: list[Open], n: int
) -> int:
    """One transaction of the bulk decide: per policy, a third of `rows` with its
    takedown label and the rest with its no-action label, each set by one reviewer
    through `decide_items`; the product's second-review share sampled as
    `decide_cluster` samples it. How many items got a decision."""
    groups: dict[tuple[str, str], list[Open]] = {}
    for row in rows:
        quiet, loud = labels[row[1]]
        groups.setdefault((row[1], loud if row[0] % 3 == 0 else quiet), []).append(row)
    applied = 0
    with q.session() as s:
        for k, ((policy, label), members) in enumerate(sorted(groups.items())):
            share = q.quality.share_for(policy)
            now = q.clock()
            outcome = decide_items(
                s,
                item_ids=[m[0] for m in members],
                reviewer=REVIEWERS[(n + k) % len(REVIEWERS)],
                label=label,
                guidelines=q.guidelines,
                now=now + timedelta(seconds=20 + (n + k) % 60),
                origin="bench",
                second_review=[
                    m[0] for m in members if sampled_for_second_review(m[2], m[3], share)
                ],
                seconds_spent=float(20 + (n + k) % 60),
            )
            applied += len(outcome.decision_ids)
    return applied


def decide_worker(url: str, at: datetime, rows: list[Open], seed: int) -> int:
    """One decide process: `rows` in transactions of `DECIDE_BATCH` items."""
    clock = SimClock()
    clock.at = at
    q = open_queue(url, clock)
    labels = labels_for(q)
    done = 0
    try:
        for start in range(0, len(rows), DECIDE_BATCH):
            done += decide_slice(q, labels, rows[start : start + DECIDE_BATCH], seed + start)
    finally:
        q.close()
    return done


def decide_to(q: ReviewQueue, url: str, want: int, workers: int, seed: int) -> int:
    """Decide `want` more pending items of the build: the parent picks them, `workers`
    processes decide contiguous slices of them side by side. How many were decided."""
    rows = open_items(q, want)
    if not rows:
        return 0
    if workers <= 1:
        return decide_worker(url, q.clock(), rows, seed)
    size = -(-len(rows) // workers)
    jobs = [(url, q.clock(), rows[k : k + size], seed + k) for k in range(0, len(rows), size)]
    with mp.get_context("spawn").Pool(len(jobs)) as pool:
        return sum(pool.starmap(decide_worker, jobs))


def build(
    url: str, total: int, workers: int, fingerprint: bool = True, share: float = DECIDED_SHARE
) -> dict[str, Any]:
    clock = SimClock()
    q = open_queue(url, clock)
    chunks = max(1, -(-total // CHUNK))
    create_months(q, 12)
    have, decided = counts(q)
    log(f"build: {have:,} items, {decided:,} decided already; target {total:,}")
    started = time.perf_counter()
    ingest_s = decide_s = 0.0
    for chunk in range(chunks):
        hi = min(total, (chunk + 1) * CHUNK)
        clock.at = START + timedelta(days=365 * chunk / chunks)
        if have < hi:
            t0 = time.perf_counter()
            ingest_to(url, clock.at, have, hi, workers, fingerprint)
            spent = time.perf_counter() - t0
            ingest_s += spent
            log(
                f"chunk {chunk + 1}/{chunks}: ingested to {hi:,} ({hi - have:,} new, "
                f"{(hi - have) / spent:,.0f}/s)"
            )
            have = hi
        goal = int(hi * share)
        clock.at += timedelta(hours=1)
        if decided < goal:
            t0 = time.perf_counter()
            got = decide_to(q, url, goal - decided, workers, decided)
            spent = time.perf_counter() - t0
            decide_s += spent
            decided += got
            log(f"chunk {chunk + 1}/{chunks}: decided {decided:,}/{goal:,} ({got / spent:,.0f}/s)")
    have, decided = counts(q)
    q.close()
    elapsed = time.perf_counter() - started
    log(f"build done: {have:,} items, {decided:,} decided in {elapsed:,.0f} s")
    return {
        "items": have,
        "decided": decided,
        "build_seconds": round(elapsed, 1),
        "ingest_seconds": round(ingest_s, 1),
        "decide_seconds": round(decide_s, 1),
    }


def escalate_top(url: str, count: int) -> dict[str, Any]:
    """Escalate the `count` highest-priority pending items (claim_next, then escalate,
    through the product) so that senior-queue items sit at the top of the priority
    order, as after a night of escalations: every claim of a non-senior must get past
    them (issue 17). Counts what is already in the senior queues first."""
    q = open_queue(url)
    with q.read_session() as s:
        have = int(
            s.scalar(
                text("SELECT count(*) FROM item WHERE status = 'pending' AND queue LIKE :p"),
                {"p": "%:senior"},
            )
            or 0
        )
    log(f"seniors: {have:,} pending senior items already; target {count:,}")
    t0 = time.perf_counter()
    for k in range(have, count):
        claim = q.claim_next(REVIEWERS[k % len(REVIEWERS)])
        assert claim is not None
        q.escalate(claim, "scale benchmark: needs a senior")
    q.close()
    return {"senior_items": max(have, count), "seconds": round(time.perf_counter() - t0, 1)}


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    if not ordered:
        return {"n": 0}

    def p(share: float) -> float:
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))]

    return {
        "p50_ms": round(p(0.50) * 1000, 2),
        "p99_ms": round(p(0.99) * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
        "n": len(ordered),
    }


def timed(work: Callable[[], Any], runs: int) -> dict[str, float]:
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        work()
        samples.append(time.perf_counter() - t0)
    return {
        "median_ms": round(statistics.median(samples) * 1000, 1),
        "max_ms": round(max(samples) * 1000, 1),
    }


def measure_claims(q: ReviewQueue, claims: int = 1000, decides: int = 300) -> dict[str, Any]:
    claim_s = []
    for k in range(claims):
        t0 = time.perf_counter()
        claim = q.claim_next(REVIEWERS[k % len(REVIEWERS)])
        claim_s.append(time.perf_counter() - t0)
        assert claim is not None
        q.release(claim)
    labels = labels_for(q)
    decide_s = []
    for k in range(decides):
        claim = q.claim_next(REVIEWERS[k % len(REVIEWERS)])
        assert claim is not None
        quiet, loud = labels[claim.item.policy or "triage"]
        t0 = time.perf_counter()
        q.decide(claim, loud if k % 3 == 0 else quiet)
        decide_s.append(time.perf_counter() - t0)
    return {"claim_next": percentiles(claim_s), "decide": percentiles(decide_s)}


def copy_baseline(url: str, out: Path) -> tuple[float, int]:
    """Seconds of a plain `COPY (SELECT the export's columns ...) TO STDOUT` into a file,
    and the rows it wrote."""
    import psycopg

    conninfo = make_url(url).set(drivername="postgresql").render_as_string(False)
    t0 = time.perf_counter()
    copied = 0
    with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
        sql = (
            f"COPY (SELECT {EXPORT_COLUMNS} FROM item i JOIN decision d ON d.item_id = i.id "
            "WHERE i.final_label IS NOT NULL ORDER BY i.id, d.id) TO STDOUT"
        )
        with (out / "copy.tsv").open("wb") as f, cur.copy(sql) as copy:
            for block in copy:
                f.write(block)
                copied += bytes(block).count(b"\n")
    return time.perf_counter() - t0, copied


def measure_export(q: ReviewQueue, url: str, *, fast: bool = True) -> dict[str, Any]:
    """The export (JSON Lines; `fast=False`: the general path) against a `COPY` of the
    same columns just before it: seconds, the export's CPU seconds, and the ratio."""
    with tempfile.TemporaryDirectory(dir=os.environ.get("SCALE_TMP")) as tmp:
        out = Path(tmp)
        load = os.getloadavg()[0]
        copy_s, copied = copy_baseline(url, out)
        t0, c0 = time.perf_counter(), time.process_time()
        report = export_dataset(
            q.engine, out=out / "export", now=q.clock(), read_engine=q.read_engine, fast=fast
        )
        export_s, export_cpu = time.perf_counter() - t0, time.process_time() - c0
    return {
        "path": "fast" if fast else "general",
        "load_average_1m": round(load, 2),
        "records": report.records,
        "copy_rows": copied,
        "export_seconds": round(export_s, 2),
        "export_cpu_seconds": round(export_cpu, 2),
        "copy_seconds": round(copy_s, 2),
        "ratio": round(copy_s / export_s, 3),
    }


def export_rounds(url: str, rounds: int, general: bool) -> list[dict[str, Any]]:
    """`rounds` rounds of COPY then export (each export against its own round's COPY);
    with `general`, every round also runs COPY then the general path."""
    q = open_queue(url)
    found = []
    for k in range(rounds):
        for fast in (True, False) if general else (True,):
            got = measure_export(q, url, fast=fast)
            log(f"export round {k + 1}: {got}")
            found.append(got)
    q.close()
    return found


_VERIFY_CHILD = """
import json, resource, sys, time
from modqueue.queue import verify_chain, verify_since
from modqueue.settings import load_settings
from modqueue.queue import ReviewQueue
q = ReviewQueue(settings=load_settings(database_url=sys.argv[1]), auto_migrate=False)
since = int(sys.argv[2])
t0 = time.perf_counter()
if since:
    r = q.read(lambda s: verify_since(s, checkpoint=since))
else:
    r = q.read(verify_chain)
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"ok": r.ok, "checked": r.checked, "peak_rss_mib": round(rss, 1),
                  "seconds": round(time.perf_counter() - t0, 1)}))
"""


def measure_verify(q: ReviewQueue, url: str) -> dict[str, Any]:
    def child(since: int) -> dict[str, Any]:
        done = subprocess.run(
            [sys.executable, "-c", _VERIFY_CHILD, url, str(since)],
            capture_output=True,
            text=True,
            check=True,
        )
        return dict(json.loads(done.stdout.strip().splitlines()[-1]))

    full = child(0)
    report = q.read(verify_chain) if not full["ok"] else None
    assert report is None, report
    number = q.read(latest_checkpoint)
    if number is None:
        head = q.read(verify_chain)
        number = q.run(lambda s: write_checkpoint(s, report=head, now=q.clock()))
    assert number is not None
    # A night's work after the checkpoint, then the incremental check.
    measure_claims(q, claims=0, decides=200)
    incremental = child(number)
    assert q.read(lambda s: verify_since(s, checkpoint=number)).ok
    return {"full": full, "incremental": incremental, "since_checkpoint": number}


def measure_size(q: ReviewQueue) -> dict[str, Any]:
    with q.read_session() as s:
        total = int(s.scalar(text("SELECT pg_database_size(current_database())")) or 0)
        items = int(s.scalar(text("SELECT count(*) FROM item")) or 0)
        events = int(s.scalar(text("SELECT count(*) FROM audit_event")) or 0)
        tables = {
            name: int(size)
            for name, size in s.execute(
                text(
                    "SELECT c.relname, pg_total_relation_size(c.oid) + coalesce((SELECT "
                    "sum(pg_total_relation_size(i.inhrelid)) FROM pg_inherits i "
                    "WHERE i.inhparent = c.oid), 0) FROM pg_class c "
                    "WHERE c.relname IN ('item', 'decision', 'audit_event', 'outbound_action')"
                )
            )
        }
    return {
        "database_bytes": total,
        "items": items,
        "audit_events": events,
        "bytes_per_item": round(total / max(items, 1)),
        "tables_bytes": tables,
    }


def measure(url: str) -> dict[str, Any]:
    q = open_queue(url)
    out: dict[str, Any] = {}
    with q.session() as s:
        s.execute(text("ANALYZE"))
    log("measure: claim_next and decide")
    out.update(measure_claims(q))
    log("measure: stats and dashboard")
    out["stats"] = timed(q.stats, 5)
    out["dashboard"] = timed(lambda: q.dashboard("lead"), 5)
    log("measure: export against COPY")
    out["export"] = measure_export(q, url)
    log("measure: audit verify (full, then incremental)")
    out["verify"] = measure_verify(q, url)
    out["size"] = measure_size(q)
    q.close()
    return out


@contextmanager
def captured(q: ReviewQueue) -> Iterator[list[tuple[str, Any, float]]]:
    """Every statement `q.engine` runs meanwhile: (sql, parameters, seconds). The
    prepared statements of the hot path (`Prepared`) fire `before_cursor_execute` only:
    their seconds run to the next statement's start (or the end)."""
    seen: list[tuple[str, Any, float]] = []
    pending: list[tuple[str, Any, float]] = []  # the statement under way, if any

    def flush() -> None:
        if pending:
            sql, params, t0 = pending.pop()
            seen.append((sql, params, time.perf_counter() - t0))

    def before(
        conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool
    ) -> None:
        flush()  # the previous one fired no `after`
        pending.append((statement, params, time.perf_counter()))

    def after(
        conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool
    ) -> None:
        flush()

    event.listen(q.engine, "before_cursor_execute", before)
    event.listen(q.engine, "after_cursor_execute", after)
    try:
        yield seen
    finally:
        event.remove(q.engine, "before_cursor_execute", before)
        event.remove(q.engine, "after_cursor_execute", after)
        flush()


def explain(url: str, plans: Path) -> dict[str, Any]:
    q = open_queue(url)
    labels = labels_for(q)
    picked: dict[str, tuple[str, Any]] = {}

    def slowest(name: str, work: Callable[[], Any], keep: Callable[[str], bool]) -> None:
        with captured(q) as seen:
            work()
        cands = [(t, sql, p) for sql, p, t in seen if keep(sql)]
        _, sql, params = max(cands, key=lambda c: c[0])
        picked[name] = (sql, params)

    holder: dict[str, Any] = {}

    def do_claim() -> None:
        holder["claim"] = q.claim_next(REVIEWERS[0])

    slowest("claim_next", do_claim, lambda sql: "item" in sql and "UPDATE" in sql.upper())

    def do_decide() -> None:
        claim = holder["claim"]
        quiet, _ = labels[claim.item.policy or "triage"]
        q.decide(claim, quiet)

    slowest("decide", do_decide, lambda sql: "INSERT INTO decision" in sql)
    slowest("audit append (chain head)", do_claim, lambda sql: "audit_event" in sql)
    q.release(holder["claim"])
    slowest("stats", q.stats, lambda sql: sql.lstrip().upper().startswith(("SELECT", "WITH")))
    slowest(
        "dashboard",
        lambda: q.dashboard("lead"),
        lambda sql: sql.lstrip().upper().startswith(("SELECT", "WITH")),
    )
    raw = q.engine.raw_connection()
    text_out = []
    try:
        for name, (sql, params) in picked.items():
            # `Prepared` statements come with PostgreSQL's `$n` placeholders and a list of
            # values: they run on a raw cursor, as the product runs them.
            numbered = isinstance(params, (list, tuple))
            driver: Any = raw.driver_connection
            cur = psycopg.RawCursor(driver) if numbered else raw.cursor()
            cur.execute("BEGIN")
            cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
            plan = "\n".join(r[0] for r in cur.fetchall())
            cur.execute("ROLLBACK")
            text_out.append(f"## {name}\n\n```sql\n{sql.strip()}\n```\n\n```\n{plan}\n```\n")
    finally:
        raw.close()
    plans.write_text("\n".join(text_out))
    q.close()
    log(f"explain: {len(picked)} plans written to {plans}")
    return {"plans": str(plans)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", required=True, help="postgresql://... (a scratch database)")
    parser.add_argument("--items", type=int, default=10_000_000)
    parser.add_argument(
        "--workers", type=int, default=3, help="processes deciding during the build"
    )
    parser.add_argument(
        "--decided-share",
        type=float,
        default=DECIDED_SHARE,
        help="build: the share of items decided (default 0.30; 1.0 for an export benchmark)",
    )
    parser.add_argument(
        "--no-fingerprint",
        action="store_true",
        help="ingest without near-duplicate fingerprinting (issue 13's tables and cost)",
    )
    parser.add_argument(
        "--phase",
        choices=["build", "seniors", "claims", "export", "measure", "explain", "all"],
        default="all",
    )
    parser.add_argument(
        "--seniors",
        type=int,
        default=2000,
        help="phase seniors: escalate the top N pending items into the senior queues",
    )
    parser.add_argument("--rounds", type=int, default=3, help="phase export: rounds")
    parser.add_argument(
        "--general",
        action="store_true",
        help="phase export: also time the general path (COPY before it too) every round",
    )
    parser.add_argument("--report", type=Path, default=Path("scale-report.json"))
    parser.add_argument("--plans", type=Path, default=Path("scale-plans.md"))
    args = parser.parse_args()
    if make_url(args.db).get_backend_name() != "postgresql":
        parser.error("--db: the scale benchmark runs on PostgreSQL")
    report: dict[str, Any] = json.loads(args.report.read_text()) if args.report.exists() else {}
    report["conditions"] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_average": os.getloadavg(),
        "cpus": os.cpu_count(),
        "items_target": args.items,
        "fingerprint": not args.no_fingerprint,
    }
    if args.phase in ("build", "all"):
        report["build"] = build(
            args.db, args.items, args.workers, not args.no_fingerprint, args.decided_share
        )
        args.report.write_text(json.dumps(report, indent=2))
    if args.phase == "seniors":
        report["seniors"] = escalate_top(args.db, args.seniors)
        args.report.write_text(json.dumps(report, indent=2))
    if args.phase == "claims":
        q = open_queue(args.db)
        report.setdefault("claims", []).append(
            {"load_average": os.getloadavg(), **measure_claims(q)}
        )
        q.close()
        args.report.write_text(json.dumps(report, indent=2))
    if args.phase == "export":
        report.setdefault("export_rounds", []).extend(
            export_rounds(args.db, args.rounds, args.general)
        )
        args.report.write_text(json.dumps(report, indent=2))
    if args.phase in ("measure", "all"):
        report["measure"] = measure(args.db)
        args.report.write_text(json.dumps(report, indent=2))
    if args.phase in ("explain", "all"):
        report["explain"] = explain(args.db, args.plans)
    report["conditions"]["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    report["conditions"]["peak_rss_mib"] = round(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
    )
    args.report.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
