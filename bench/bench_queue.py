"""Queue benchmarks, each side by side with a raw-SQL baseline in the same run.

    python bench/bench_queue.py --db sqlite:///bench.db [--items 20000] [--pending 1000000]
    python bench/bench_queue.py --db postgresql://user:pw@127.0.0.1/db

1. claim+decide with 4 processes: `ReviewQueue.claim_next` + `decide` against a raw-SQL
   loop doing the same two transactions (reviewer lookup; claim with hash-chained audit
   row; decision, item update, outbox row and hash-chained audit row), items per second
   and the ratio; also against the plain loop without lookup or hash chain.
2. ingest: the service behind `modqueue ingest FILE` (product defaults, and with
   fingerprinting off) against a plain driver loop loading the same JSON Lines file
   (bare sqlite3 / psycopg, `json.loads`, 5,000-row `executemany` batches).
3. claim_next latency with `--pending` pending items: p50/p99 over 1,000 claims.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import multiprocessing as mp
import os
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url

from modqueue.quality import QualityConfig
from modqueue.queue import FloodsConfig, ReviewQueue, make_engine, migrate, verify_chain
from modqueue.queue._audit.chain import (
    GENESIS_HASH,
    PG_AUDIT_CHAIN_LOCK,
    PG_AUDIT_CHAINS,
    canonical_event,
)
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
#
# Two raw-SQL baselines, both hand-written SQL through a bare SQLAlchemy connection:
# `raw` does the same two transactions as modqueue, including what issue 8 added to them
# (the reviewer lookup that authorization does, the "not the same reviewer twice" filter
# of quality review, and the hash-chained audit append with its chain lock); `raw_plain`
# is the loop this benchmark used before issue 8: same rows, audit rows without a hash,
# no lookup. Workers start, connect and load what they need, then wait for one start
# signal, so process start-up is not in the rate.

_LOOKUP_SQL = (
    "SELECT name, role, policies, disabled FROM reviewer WHERE name = :n "
    "OR id = (SELECT min(id) FROM reviewer)"
)
_TRY_CHAIN_SQL = (
    "SELECT (k + :start) % :n FROM generate_series(0, :n - 1) AS k "
    "WHERE pg_try_advisory_xact_lock(:key + (k + :start) % :n) LIMIT 1"
)


def _audit_raw(conn: Any, chained: bool, chain_state: dict[str, int], **event: Any) -> None:
    """Append one audit row: chained like modqueue's (chain lock, head, hash) or plain."""
    if not chained:
        conn.execute(
            text(
                "INSERT INTO audit_event (at, actor, event, item_id, before, after, detail) "
                "VALUES (:at, :actor, :event, :item_id, :before, :after, :detail)"
            ),
            {k: json.dumps(v) if isinstance(v, dict) else v for k, v in event.items()},
        )
        return
    chain = 0
    if conn.dialect.name == "postgresql":
        n, start = PG_AUDIT_CHAINS, chain_state["start"]
        chain = conn.execute(
            text(_TRY_CHAIN_SQL), {"start": start, "n": n, "key": PG_AUDIT_CHAIN_LOCK}
        ).scalar()
        if chain is None:
            conn.execute(
                text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_AUDIT_CHAIN_LOCK + start}
            )
            chain = start
        _, prev, new_id = conn.execute(
            text(
                "SELECT h.id, h.hash, nextval(pg_get_serial_sequence('audit_event', 'id')) "
                "FROM (SELECT 1) AS one LEFT JOIN LATERAL (SELECT id, hash FROM audit_event "
                "WHERE chain = :c ORDER BY id DESC LIMIT 1) AS h ON true"
            ),
            {"c": chain},
        ).one()
    else:
        head = conn.execute(
            text("SELECT id, hash FROM audit_event WHERE chain = 0 ORDER BY id DESC LIMIT 1")
        ).first()
        new_id, prev = (head[0] + 1, head[1]) if head is not None else (1, None)
    prev = prev or GENESIS_HASH
    at = event["at"].replace(tzinfo=UTC)
    digest = hashlib.sha256(
        canonical_event(id=new_id, chain=chain, prev_hash=prev, **{**event, "at": at})
    ).hexdigest()
    conn.execute(
        text(
            "INSERT INTO audit_event (id, chain, at, actor, event, item_id, before, after, "
            "detail, prev_hash, hash) VALUES (:id, :chain, :at, :actor, :event, :item_id, "
            ":before, :after, :detail, :prev, :hash)"
        ),
        {
            **{k: json.dumps(v) if isinstance(v, dict) else v for k, v in event.items()},
            "id": new_id,
            "chain": chain,
            "prev": prev,
            "hash": digest,
        },
    )


def _wait_for_start(ready: Any, go: Any) -> None:
    ready.put(True)
    go.wait()


def _modqueue_worker(url: str, reviewer: str, out: Any, ready: Any, go: Any) -> None:
    done = 0
    # Like for like with the raw-SQL loop: no blind second reviews.
    with ReviewQueue(url, auto_migrate=False, quality=QualityConfig(second_review_share=0.0)) as q:
        with q.session() as s:  # connect before the start signal, as the raw loop does
            s.connection()
        _wait_for_start(ready, go)
        while (claim := q.claim_next(reviewer)) is not None:
            q.decide(claim, LABEL)
            done += 1
    out.put(done)


def _raw_loop(url: str, reviewer: str, out: Any, ready: Any, go: Any, chained: bool) -> None:
    engine = make_engine(url)
    pg = engine.dialect.name == "postgresql"
    lock = " FOR UPDATE SKIP LOCKED" if pg else ""
    chain_state = {"start": os.getpid() % PG_AUDIT_CHAINS}
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
        conn.rollback()
    same_reviewer = (
        " AND NOT EXISTS (SELECT 1 FROM decision WHERE decision.item_id = item.id "
        "AND decision.reviewer = :r AND decision.status = 'active')"
        if chained
        else ""
    )
    _wait_for_start(ready, go)
    done = 0
    while True:
        now = datetime.now(UTC).replace(tzinfo=None)
        token = uuid.uuid4().hex
        with engine.begin() as conn:
            if chained:
                conn.execute(text(_LOOKUP_SQL), {"n": reviewer}).all()
            row = conn.execute(
                text(
                    "UPDATE item SET status='claimed', claimed_by=:r, claim_token=:t, "
                    "claimed_at=:now, lease_expires_at=:exp, updated_at=:now "
                    "WHERE id = (SELECT id FROM item WHERE status='pending' "
                    f"AND queue NOT LIKE :senior{same_reviewer} ORDER BY priority DESC, id "
                    f"LIMIT 1{lock}) AND status='pending' RETURNING id, source, external_id, "
                    "policy"
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
            _audit_raw(
                conn,
                chained,
                chain_state,
                at=now,
                actor=reviewer,
                event="claimed",
                item_id=row.id,
                before={"status": "pending"},
                after={"status": "claimed", "lease_expires_at": now.isoformat()},
                detail=None,
            )
        now = datetime.now(UTC).replace(tzinfo=None)
        with engine.begin() as conn:
            if chained:
                conn.execute(text(_LOOKUP_SQL), {"n": reviewer}).all()
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
            action_id = conn.execute(
                text(
                    "INSERT INTO outbound_action (item_id, decision_id, action, source, "
                    "external_id, policy, label, reason, idempotency_key, status, attempts, "
                    "next_attempt_at, created_at, updated_at) VALUES (:i, :d, "
                    "'refer_law_enforcement', :s, :e, :p, :l, 'r', :k, 'pending', 0, "
                    ":now, :now, :now) RETURNING id"
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
            ).scalar_one()
            _audit_raw(
                conn,
                chained,
                chain_state,
                at=now,
                actor=reviewer,
                event="decided",
                item_id=row.id,
                before={"status": "claimed", "queue": "people-smuggling"},
                after={"status": "decided", "queue": "people-smuggling", "label": LABEL},
                detail={
                    "decision_id": decision_id,
                    "guideline_version": "v",
                    "action": "refer_law_enforcement",
                    "outbound_action_id": action_id,
                },
            )
        done += 1
    engine.dispose()
    out.put(done)


def _raw_worker(url: str, reviewer: str, out: Any, ready: Any, go: Any) -> None:
    _raw_loop(url, reviewer, out, ready, go, chained=True)


def _raw_plain_worker(url: str, reviewer: str, out: Any, ready: Any, go: Any) -> None:
    _raw_loop(url, reviewer, out, ready, go, chained=False)


# The bare-driver baseline: the same work as `raw` (lookup, claim with the same-reviewer
# filter, hash-chained audit, decision, item update, outbox row, second chained audit) by
# hand on the driver itself, no SQLAlchemy: `sqlite3` (which caches its prepared
# statements) with the writers taking turns through a blocking `flock`, as modqueue's do,
# then `BEGIN IMMEDIATE`; `psycopg` with server-side prepared statements (`prepare=True`).

_BARE_CLAIM = (
    "UPDATE item SET status='claimed', claimed_by={r}, claim_token={t}, claimed_at={now}, "
    "lease_expires_at={exp}, updated_at={now} WHERE id = (SELECT id FROM item "
    "WHERE status='pending' AND queue NOT LIKE {senior} AND NOT EXISTS (SELECT 1 FROM "
    "decision WHERE decision.item_id = item.id AND decision.reviewer = {r} AND "
    "decision.status = 'active') ORDER BY priority DESC, id LIMIT 1{lock}) "
    "AND status='pending' RETURNING id, source, external_id, policy"
)
_BARE_DECISION = (
    "INSERT INTO decision (item_id, reviewer, label, action, note, guideline_id, "
    "guideline_version, seconds_spent, decided_at, origin, kind, status) VALUES ({i}, {r}, "
    "{l}, 'refer_law_enforcement', '', 'people-smuggling', 'v', 0, {now}, 'api', 'primary', "
    "'active') RETURNING id"
)
_BARE_DECIDE_ITEM = (
    "UPDATE item SET status='decided', decided_at={now}, final_label={l}, claimed_by=NULL, "
    "claim_token=NULL, claimed_at=NULL, lease_expires_at=NULL, updated_at={now} WHERE id={i}"
)
_BARE_ACTION = (
    "INSERT INTO outbound_action (item_id, decision_id, action, source, external_id, policy, "
    "label, reason, idempotency_key, status, attempts, next_attempt_at, created_at, "
    "updated_at) VALUES ({i}, {d}, 'refer_law_enforcement', {s}, {e}, {p}, {l}, 'r', {k}, "
    "'pending', 0, {now}, {now}, {now}) RETURNING id"
)
_BARE_AUDIT = (
    "INSERT INTO audit_event (id, chain, at, actor, event, item_id, before, after, detail, "
    "prev_hash, hash) VALUES ({id}, {chain}, {at}, {actor}, {event}, {item_id}, {before}, "
    "{after}, {detail}, {prev}, {hash})"
)
_BARE_NAMES = [
    "r",
    "t",
    "now",
    "exp",
    "senior",
    "i",
    "l",
    "d",
    "s",
    "e",
    "p",
    "k",
    "id",
    "chain",
    "at",
    "actor",
    "event",
    "item_id",
    "before",
    "after",
    "detail",
    "prev",
    "hash",
    "n",
    "start",
    "key",
    "c",
]


def _bare_sql(template: str, pg: bool, lock: str = "") -> str:
    marks = {n: f"%({n})s" if pg else f":{n}" for n in _BARE_NAMES}
    return template.format(lock=lock, **marks)


def _sqlite_time(at: datetime) -> str:
    # How SQLAlchemy stores a DateTime on SQLite (always with microseconds).
    return at.strftime("%Y-%m-%d %H:%M:%S.%f")


class _BareLoop:
    """One worker's claim + decide loop on the bare driver."""

    def __init__(self, url: str, reviewer: str) -> None:
        parsed = make_url(url)
        self.pg = parsed.get_backend_name() == "postgresql"
        self.reviewer = reviewer
        self.start = os.getpid() % PG_AUDIT_CHAINS
        self.lock_fd: int | None = None
        self.conn: Any
        if self.pg:
            import psycopg

            self.conn = psycopg.connect(
                parsed.set(drivername="postgresql").render_as_string(hide_password=False)
            )
        else:
            import sqlite3

            path = parsed.database or ""
            self.conn = sqlite3.connect(path, isolation_level=None, timeout=30)
            for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
                self.conn.execute(f"PRAGMA {pragma}")
            self.lock_fd = os.open(f"{path}.barelock", os.O_RDWR | os.O_CREAT, 0o600)
        pg = self.pg
        self.sql = {
            "lookup": _LOOKUP_SQL.replace(":n", "%(n)s" if pg else ":n"),
            "claim": _bare_sql(_BARE_CLAIM, pg, " FOR UPDATE SKIP LOCKED" if pg else ""),
            "check": "SELECT id FROM item WHERE id={i} AND claim_token={t}".format(
                i="%(i)s" if pg else ":i", t="%(t)s" if pg else ":t"
            )
            + (" FOR UPDATE" if pg else ""),
            "decision": _bare_sql(_BARE_DECISION, pg),
            "decide_item": _bare_sql(_BARE_DECIDE_ITEM, pg),
            "action": _bare_sql(_BARE_ACTION, pg),
            "audit": _bare_sql(_BARE_AUDIT, pg),
            "try_chain": _TRY_CHAIN_SQL.replace(" % ", " %% ")
            .replace(":start", "%(start)s")
            .replace(":n", "%(n)s")
            .replace(":key", "%(key)s"),
            "head": (
                "SELECT h.id, h.hash, nextval(pg_get_serial_sequence('audit_event', 'id')) "
                "FROM (SELECT 1) AS one LEFT JOIN LATERAL (SELECT id, hash FROM audit_event "
                "WHERE chain = %(c)s ORDER BY id DESC LIMIT 1) AS h ON true"
                if pg
                else "SELECT id, hash FROM audit_event WHERE chain = 0 ORDER BY id DESC LIMIT 1"
            ),
        }
        self.cur = self.conn.cursor()
        self.one("SELECT 1", {})
        self.commit()

    def one(self, name: str, params: dict[str, Any]) -> Any:
        sql = self.sql.get(name, name)
        if self.pg:
            self.cur.execute(sql, params, prepare=True)
        else:
            self.cur.execute(sql, params)
        return self.cur.fetchone()

    def begin(self) -> None:
        if not self.pg:
            assert self.lock_fd is not None
            fcntl.flock(self.lock_fd, fcntl.LOCK_EX)
            self.cur.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self.conn.commit()
        if self.lock_fd is not None:
            fcntl.flock(self.lock_fd, fcntl.LOCK_UN)

    def time(self, at: datetime) -> Any:
        return at if self.pg else _sqlite_time(at)

    def audit(self, chain: int | None, **event: Any) -> int:
        """One hash-chained audit append; returns the chain it used."""
        if self.pg:
            if chain is None:
                p = {"start": self.start, "n": PG_AUDIT_CHAINS, "key": PG_AUDIT_CHAIN_LOCK}
                found = self.one("try_chain", p)
                if found is None:
                    self.one("SELECT pg_advisory_xact_lock(%(k)s)", {"k": p["key"] + self.start})
                    chain = self.start
                else:
                    chain = int(found[0])
            _, prev, new_id = self.one("head", {"c": chain})
        else:
            chain = 0
            head = self.one("head", {})
            new_id, prev = (head[0] + 1, head[1]) if head is not None else (1, None)
        prev = prev or GENESIS_HASH
        at = event["at"].replace(tzinfo=UTC)
        digest = hashlib.sha256(
            canonical_event(id=new_id, chain=chain, prev_hash=prev, **{**event, "at": at})
        ).hexdigest()
        params = {k: json.dumps(v) if isinstance(v, dict) else v for k, v in event.items()}
        params |= {"at": self.time(event["at"]), "id": new_id, "chain": chain}
        self.cur.execute(
            self.sql["audit"],
            {**params, "prev": prev, "hash": digest},
            **({"prepare": True} if self.pg else {}),
        )
        return chain

    def claim_and_decide(self) -> bool:
        reviewer = self.reviewer
        now = datetime.now(UTC).replace(tzinfo=None)
        token = uuid.uuid4().hex
        self.begin()
        self.cur.execute(self.sql["lookup"], {"n": reviewer}, **self._prep())
        self.cur.fetchall()
        row = self.one(
            "claim",
            {
                "r": reviewer,
                "t": token,
                "now": self.time(now),
                "exp": self.time(now + timedelta(minutes=5)),
                "senior": "%:senior",
            },
        )
        if row is None:
            self.commit()
            return False
        item_id, source, external_id, policy = row
        self.audit(
            None,
            at=now,
            actor=reviewer,
            event="claimed",
            item_id=item_id,
            before={"status": "pending"},
            after={"status": "claimed", "lease_expires_at": now.isoformat()},
            detail=None,
        )
        self.commit()
        now = datetime.now(UTC).replace(tzinfo=None)
        self.begin()
        self.cur.execute(self.sql["lookup"], {"n": reviewer}, **self._prep())
        self.cur.fetchall()
        assert self.one("check", {"i": item_id, "t": token}) is not None
        stamp = self.time(now)
        (decision_id,) = self.one(
            "decision", {"i": item_id, "r": reviewer, "l": LABEL, "now": stamp}
        )
        self.cur.execute(
            self.sql["decide_item"], {"i": item_id, "l": LABEL, "now": stamp}, **self._prep()
        )
        (action_id,) = self.one(
            "action",
            {
                "i": item_id,
                "d": decision_id,
                "s": source,
                "e": external_id,
                "p": policy,
                "l": LABEL,
                "k": uuid.uuid4().hex,
                "now": stamp,
            },
        )
        self.audit(
            None,
            at=now,
            actor=reviewer,
            event="decided",
            item_id=item_id,
            before={"status": "claimed", "queue": "people-smuggling"},
            after={"status": "decided", "queue": "people-smuggling", "label": LABEL},
            detail={
                "decision_id": decision_id,
                "guideline_version": "v",
                "action": "refer_law_enforcement",
                "outbound_action_id": action_id,
            },
        )
        self.commit()
        return True

    def _prep(self) -> dict[str, Any]:
        return {"prepare": True} if self.pg else {}

    def close(self) -> None:
        self.conn.close()
        if self.lock_fd is not None:
            os.close(self.lock_fd)


def _bare_worker(url: str, reviewer: str, out: Any, ready: Any, go: Any) -> None:
    loop = _BareLoop(url, reviewer)
    _wait_for_start(ready, go)
    done = 0
    while loop.claim_and_decide():
        done += 1
    loop.close()
    out.put(done)


def _run_workers(target: Any, url: str, processes: int) -> float:
    ctx = mp.get_context("spawn")
    out, ready, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    procs = [
        ctx.Process(target=target, args=(url, f"r{i}", out, ready, go)) for i in range(processes)
    ]
    for p in procs:
        p.start()
    for _ in procs:
        ready.get(timeout=600)
    start = time.perf_counter()
    go.set()
    total = sum(out.get(timeout=3600) for _ in procs)
    elapsed = time.perf_counter() - start
    for p in procs:
        p.join()
    return float(total) / elapsed


WORKERS = {
    "bare": _bare_worker,
    "raw": _raw_worker,
    "raw_plain": _raw_plain_worker,
    "modqueue": _modqueue_worker,
}


def bench_claim_decide(
    url: str, items: int, processes: int, rounds: int = 2, variants: list[str] | None = None
) -> dict[str, Any]:
    chosen = {k: v for k, v in WORKERS.items() if variants is None or k in variants}
    results: dict[str, list[float]] = {name: [] for name in chosen}
    for _round in range(rounds):
        for name, target in chosen.items():
            reset(url)
            # The synthetic items differ only in digits: without this they would fold
            # into one flood incident and leave the queue (this measures claim + decide).
            with ReviewQueue(url, floods=FloodsConfig(enabled=False)) as q:
                q.enqueue(_item(n) for n in range(items))
            results[name].append(_run_workers(target, url, processes))
            with ReviewQueue(url, auto_migrate=False) as q:
                # Every item decided once, and a chain that verifies: the loops did the work.
                assert q.stats()["decided"] == items, name
                if name != "raw_plain":
                    assert q.run(lambda s: verify_chain(s)).ok, name
    best = {k: max(v) for k, v in results.items()}
    ratios = {
        key: round(best["modqueue"] / best[base], 3)
        for key, base in (("ratio", "raw"), ("ratio_vs_raw_plain", "raw_plain"))
        if "modqueue" in best and base in best
    }
    if "modqueue" in best and "bare" in best:
        ratios["ratio_vs_bare"] = round(best["modqueue"] / best["bare"], 3)
    return {
        **{f"{k}_items_per_s": round(v, 1) for k, v in best.items()},
        **ratios,
        "rounds": {k: [round(x, 1) for x in v] for k, v in results.items()},
    }


# -- ingest ---------------------------------------------------------------------------
#
# The baseline is the plain driver loop a user would write to load the same file: the
# bare driver (sqlite3 / psycopg, no SQLAlchemy), `json.loads` of each line, and
# `executemany` of 5,000-row batches with `ON CONFLICT DO NOTHING` into the same columns
# ingest sets, one transaction per batch. modqueue is measured the way a user runs it:
# the service behind `modqueue ingest FILE` (`ingest_stream`, product defaults:
# fingerprinting and clusters, flood folding, audit events), and the same with
# fingerprinting off (`ingest_jsonl(fingerprint=False)`).

_WORDS = [
    "alpha",
    "bravo",
    "charlie",
    "delta",
    "echo",
    "foxtrot",
    "golf",
    "hotel",
    "india",
    "juliet",
    "kilo",
    "lima",
    "mike",
    "november",
    "oscar",
    "papa",
    "quebec",
    "romeo",
    "sierra",
    "tango",
    "uniform",
    "victor",
    "whiskey",
    "xray",
    "yankee",
    "zulu",
]
_INGEST_COLUMNS = (
    "source, external_id, text, url, media, author_id, author_handle, policy, signals, "
    "report_count, views, flagged_at, queue, status, priority, priority_breakdown, reporter, "
    "ingested_at, updated_at, deadline_at, deadline_state, escalated, notice_type, "
    "trusted_flagger"
)


def _ingest_line(n: int) -> dict[str, Any]:
    """An item whose text is its own (words drawn from a digest of `n`: texts that differ
    only in digits would cluster and fold into floods, which is not what this measures)."""
    digest = hashlib.sha256(str(n).encode()).digest()
    return {
        **_item(n),
        "text": " ".join(_WORDS[b % 26] for b in digest[:10]) + " channel crossing offer",
    }


def _write_jsonl(path: Path, items: int) -> None:
    with path.open("w") as f:
        for n in range(items):
            f.write(json.dumps(_ingest_line(n)) + "\n")


def _plain_driver_load(url: str, path: Path) -> int:
    """The baseline: bare driver, `json.loads` per line, 5,000-row `executemany` batches
    with `ON CONFLICT DO NOTHING`, each committed."""
    parsed = make_url(url)
    sqlite = parsed.get_backend_name() == "sqlite"
    if sqlite:
        import sqlite3

        conn: Any = sqlite3.connect(parsed.database or "")
        marks = ", ".join("?" for _ in _INGEST_COLUMNS.split(","))
    else:
        import psycopg

        conn = psycopg.connect(parsed.set(drivername="postgresql").render_as_string(False))
        marks = ", ".join("%s" for _ in _INGEST_COLUMNS.split(","))
    sql = (
        f"INSERT INTO item ({_INGEST_COLUMNS}) VALUES ({marks}) "
        "ON CONFLICT (source, external_id) DO NOTHING"
    )
    now = datetime.now(UTC).replace(tzinfo=None)
    loaded = 0
    batch: list[tuple[Any, ...]] = []

    def flush() -> None:
        cur = conn.cursor()
        cur.executemany(sql, batch)
        conn.commit()
        batch.clear()

    with path.open("rb") as f:
        for line in f:
            r = json.loads(line)
            flagged = datetime.fromisoformat(r["flagged_at"]).replace(tzinfo=None)
            batch.append(
                (
                    r["source"],
                    r["external_id"],
                    r.get("text"),
                    r.get("url"),
                    json.dumps(r.get("media", [])),
                    None,
                    None,
                    r.get("policy"),
                    json.dumps(r.get("signals", [])),
                    r.get("report_count", 0),
                    r.get("views", 0),
                    flagged,
                    r.get("policy") or "triage",
                    "pending",
                    1.0,
                    "{}",
                    None,
                    now,
                    now,
                    now,
                    "ok",
                    False,
                    "notice" if r.get("report_count") else "own_initiative",
                    None,
                )
            )
            loaded += 1
            if len(batch) >= 5000:
                flush()
    if batch:
        flush()
    conn.close()
    return loaded


INGEST_MODES = ("product", "no_fingerprint")


def bench_ingest(url: str, items: int, modes: tuple[str, ...] = INGEST_MODES) -> dict[str, float]:
    from modqueue.commands.core import ingest_stream
    from modqueue.queue import ingest_jsonl

    work = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench_ingest_{uuid.uuid4().hex}.jsonl"
    _write_jsonl(work, items)
    try:
        reset(url)
        start = time.perf_counter()
        assert _plain_driver_load(url, work) == items
        plain = items / (time.perf_counter() - start)
        rates: dict[str, float] = {}
        for label in modes:
            fingerprint = label == "product"
            reset(url)
            with ReviewQueue(url) as q, work.open("rb") as f:
                start = time.perf_counter()
                if fingerprint:
                    report = ingest_stream(q, f, strict=False)
                else:
                    report = ingest_jsonl(q, f, fingerprint=False)
                rates[label] = items / (time.perf_counter() - start)
                assert report.new == items and not report.rejected, report.to_dict()
    finally:
        work.unlink(missing_ok=True)
    out = {"plain_driver_items_per_s": round(plain, 1)}
    for label, rate in rates.items():
        suffix = "" if label == "product" else f"_{label}"
        out[f"modqueue{suffix}_items_per_s"] = round(rate, 1)
        out[f"ratio{suffix}"] = round(rate / plain, 3)
    out["load_average_1m"] = round(os.getloadavg()[0], 2)
    return out


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
    parser.add_argument(
        "--ingest-mode",
        choices=INGEST_MODES,
        action="append",
        help="ingest: product defaults and/or fingerprinting off (default both)",
    )
    parser.add_argument("--pending", type=int, default=1_000_000)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--only", choices=["claim", "ingest", "latency"], action="append")
    parser.add_argument(
        "--variants", help=f"claim+decide variants, comma-separated (default: {','.join(WORKERS)})"
    )
    args = parser.parse_args()
    url = normalise_database_url(args.db)
    backend = make_url(url).get_backend_name()
    only = set(args.only or ["claim", "ingest", "latency"])
    results: dict[str, Any] = {"backend": backend}
    if "claim" in only:
        results["claim_decide"] = bench_claim_decide(
            url,
            args.items,
            args.processes,
            args.rounds,
            args.variants.split(",") if args.variants else None,
        )
        print(json.dumps(results), flush=True)
    if "ingest" in only:
        modes = tuple(args.ingest_mode or INGEST_MODES)
        results["ingest"] = bench_ingest(url, args.ingest_items, modes)
        print(json.dumps(results), flush=True)
    if "latency" in only:
        results["claim_latency"] = bench_claim_latency(url, args.pending)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
