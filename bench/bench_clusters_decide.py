"""Deciding one large cluster: `decide_cluster` against hand-written set-based SQL.

    python bench/bench_clusters_decide.py --db postgresql://user:pw@127.0.0.1/db \\
        [--members 10000] [--rounds 2]

The given PostgreSQL database is dropped and recreated. Each round builds two clusters of
`--members` pending items each (ingested with `enqueue`, membership set directly: the
fingerprinting at ingest is not what is measured), then decides one with modqueue
(`ReviewQueue.decide_cluster`, one transaction: authorization, cluster decision row, each
member's decision, item update, outbox row with its own idempotency key and audit event
in the hash chain) and the other with the baseline: the same rows written by hand in one
transaction with psycopg, set-based: one statement of data-modifying CTEs for the
decisions, the item update, the outbox rows and the item counters (`queue_counter`, moved
once per queue and status with the row trigger stood aside, migration
`0021_bulkdecide_counted_moves`), then the members' and the cluster's audit events hashed
with the same canonical JSON and sent with one `COPY` under the chain's advisory lock.
Prints members/s for both, modqueue's ratio to the baseline, the best round of each and
the load average (the machine may be shared; target: at least 5,000 members/s).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import time
from datetime import UTC, datetime
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

from modqueue.queue import ReviewQueue, make_engine, migrate
from modqueue.queue._audit.chain import GENESIS_HASH, canonical_event
from modqueue.settings import normalise_database_url

LABEL = "remove-fake-documents"
ACTION = "remove_and_ban"
TITLE = "Remove offer of forged or stolen identity documents"
CHAIN_KEY = 7_244_310_008  # chain 0's advisory lock (modqueue.queue._audit.chain)


def _conninfo(url: str, database: str | None = None) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


def _fresh(url: str) -> None:
    name = make_url(url).database
    with psycopg.connect(_conninfo(url, "postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()


_WORDS = [f"w{chr(97 + a)}{chr(97 + b)}{chr(97 + c)}" for a in range(26) for b in range(26)
          for c in range(26)]  # fmt: skip


def _text(rng: random.Random) -> str:
    """Twelve random letter-words: no two items share a shingle, so ingest's clustering
    finds no copies (membership is set directly; ingest is not what is measured)."""
    return " ".join(rng.choice(_WORDS) for _ in range(12))


def _items(prefix: str, n: int) -> list[dict[str, Any]]:
    rng = random.Random(prefix)
    return [
        {
            "source": "bench",
            "external_id": f"{prefix}-{i}",
            "text": _text(rng),
            "policy": "people-smuggling",
            "signals": [{"name": "smuggling-clf-v2", "score": 0.9}],
            "views": 100 + i,
        }
        for i in range(n)
    ]


def _cluster(conn: psycopg.Connection[Any], prefix: str) -> int:
    """A cluster holding every item of `prefix`, with its first as representative."""
    with conn.transaction():
        row = conn.execute(
            "INSERT INTO content_cluster (policy, queue, representative_item_id, member_count,"
            " status, created_at, updated_at) SELECT 'people-smuggling', 'people-smuggling',"
            " min(id), count(*), 'open', now(), now() FROM item WHERE external_id LIKE %s"
            " RETURNING id",
            (f"{prefix}-%",),
        ).fetchone()
        assert row is not None
        conn.execute(
            "UPDATE item SET cluster_id = %s WHERE external_id LIKE %s", (row[0], f"{prefix}-%")
        )
    return int(row[0])


def _baseline(conn: psycopg.Connection[Any], cluster_id: int, version: str) -> int:
    """The same rows as `decide_cluster`, by hand, set-based, in one transaction."""
    now = datetime.now(UTC)
    naive_now = now.replace(tzinfo=None)  # what `UTCDateTime` stores
    with conn.transaction():
        # The item counters are moved by the statement itself, once per (queue, status),
        # not by the row trigger (migration 0021_bulkdecide_counted_moves).
        conn.execute("SELECT set_config('modqueue.counted_moves', 'on', true)")
        (cd_id,) = conn.execute(  # type: ignore[misc]
            "INSERT INTO cluster_decision (cluster_id, reviewer, label, action, guideline_id,"
            " guideline_version, decided_at, origin, status, member_count, excluded, detail)"
            " VALUES (%s, 'bob', %s, %s, 'people-smuggling', %s, %s, 'cluster', 'active', 0,"
            " '[]', '{}') RETURNING id",
            (cluster_id, LABEL, ACTION, version, now),
        ).fetchone()
        decided = conn.execute(
            "WITH m AS (SELECT id, queue, status FROM item WHERE cluster_id = %(c)s AND"
            " status = 'pending' ORDER BY id FOR UPDATE),"
            " d AS (INSERT INTO decision (item_id, reviewer, label, action, note, guideline_id,"
            " guideline_version, seconds_spent, decided_at, origin, kind, status,"
            " cluster_decision_id) SELECT id, 'bob', %(label)s, %(action)s, '',"
            " 'people-smuggling', %(version)s, 0, %(now)s, 'cluster', 'primary', 'active',"
            " %(cd)s FROM m RETURNING id, item_id),"
            " u AS (UPDATE item SET status = 'decided', decided_at = %(now)s, final_label ="
            " %(label)s, claimed_by = NULL, claim_token = NULL, claimed_at = NULL,"
            " lease_expires_at = NULL, updated_at = %(now)s FROM m WHERE item.id = m.id),"
            " a AS (INSERT INTO outbound_action (item_id, decision_id, action, source,"
            " external_id, policy, label, reason, idempotency_key, status, attempts,"
            " next_attempt_at, created_at, updated_at) SELECT d.item_id, d.id, %(action)s,"
            " i.source, i.external_id, 'people-smuggling', %(label)s, %(title)s,"
            " md5(random()::text || d.id::text), 'pending', 0, %(now)s, %(now)s, %(now)s"
            " FROM d JOIN item i ON i.id = d.item_id RETURNING id, item_id, decision_id),"
            " c AS (INSERT INTO queue_counter (queue, status, slot, n) SELECT queue, status,"
            " pg_backend_pid() %% 8, sum(n) FROM (SELECT queue, status, -1 AS n FROM m"
            " UNION ALL SELECT queue, 'decided', 1 FROM m) AS moves GROUP BY queue, status"
            " ON CONFLICT (queue, status, slot) DO UPDATE SET n = queue_counter.n + excluded.n)"
            " SELECT a.item_id, a.decision_id, a.id, m.queue FROM a JOIN m ON m.id = a.item_id"
            " ORDER BY a.item_id",
            {
                "c": cluster_id,
                "label": LABEL,
                "action": ACTION,
                "version": version,
                "now": now,
                "cd": cd_id,
                "title": TITLE,
            },
        ).fetchall()
        conn.execute("SELECT set_config('modqueue.counted_moves', 'off', true)")
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (CHAIN_KEY,))
        head = conn.execute(
            "SELECT id, hash FROM audit_event WHERE chain = 0 ORDER BY id DESC LIMIT 1"
        ).fetchone()
        prev = head[1] if head else GENESIS_HASH
        ids = [
            r[0]
            for r in conn.execute(
                "SELECT nextval(pg_get_serial_sequence('audit_event', 'id'))"
                " FROM generate_series(1, %s)",
                (len(decided) + 1,),
            )
        ]
        rows = []
        members = [(*m, "decided") for m in decided]
        cluster_event = (decided[0][0], None, None, None, "cluster_decided")  # representative
        for event_id, (item_id, decision_id, action_id, queue, event) in zip(
            ids, [*members, cluster_event], strict=True
        ):
            before: dict[str, Any] | None = {"status": "pending", "queue": queue}
            after = {"status": "decided", "queue": queue, "label": LABEL}
            detail: dict[str, Any] = {
                "decision_id": decision_id,
                "guideline_version": version,
                "action": ACTION,
                "outbound_action_id": action_id,
                "origin": "cluster",
                "cluster_decision_id": cd_id,
                "cluster_id": cluster_id,
            }
            if event == "cluster_decided":
                before, after = None, {"status": "decided", "label": LABEL}
                detail = {"cluster_id": cluster_id, "cluster_decision_id": cd_id,
                          "members": len(decided), "excluded": [], "second_review": [],
                          "skipped": 0, "action": ACTION}  # fmt: skip
            digest = hashlib.sha256(
                canonical_event(
                    id=event_id,
                    at=now,
                    actor="bob",
                    event=event,
                    item_id=item_id,
                    before=before,
                    after=after,
                    detail=detail,
                    prev_hash=prev,
                )
            ).hexdigest()
            rows.append(
                (event_id, naive_now, "bob", event, item_id,
                 None if before is None else json.dumps(before), json.dumps(after),
                 json.dumps(detail), prev, digest)
            )  # fmt: skip
            prev = digest
        with (
            conn.cursor() as cur,
            cur.copy(
                "COPY audit_event (id, chain, at, actor, event, item_id, before, after, detail,"
                " prev_hash, hash) FROM STDIN"
            ) as copy,
        ):
            for row in rows:
                copy.write_row((row[0], 0, *row[1:]))
        conn.execute(
            "UPDATE cluster_decision SET member_count = %s WHERE id = %s", (len(decided), cd_id)
        )
        conn.execute(
            "UPDATE content_cluster SET status = 'decided', updated_at = %s WHERE id = %s",
            (now, cluster_id),
        )
    return len(decided)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", required=True, help="PostgreSQL URL (dropped and recreated)")
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    url = normalise_database_url(args.db)
    if not url.startswith("postgresql"):
        raise SystemExit("this benchmark measures PostgreSQL: pass a postgresql:// URL")
    _fresh(url)
    q = ReviewQueue(url)
    version = q.guidelines.get("people-smuggling").version
    results: list[tuple[float, float]] = []
    with psycopg.connect(_conninfo(url)) as conn:
        for r in range(args.rounds):
            for prefix in (f"m{r}", f"b{r}"):
                q.enqueue(_items(prefix, args.members), batch_size=5000)
            ours, theirs = _cluster(conn, f"m{r}"), _cluster(conn, f"b{r}")
            conn.execute("ANALYZE")
            conn.commit()
            start = time.perf_counter()
            made = q.decide_cluster(ours, "alice", LABEL)
            mod_s = time.perf_counter() - start
            start = time.perf_counter()
            done = _baseline(conn, theirs, version)
            base_s = time.perf_counter() - start
            assert made.member_count == done == args.members, (made.member_count, done)
            results.append((made.member_count / mod_s, done / base_s))
            print(
                f"round {r + 1}: modqueue {made.member_count / mod_s:,.0f} members/s "
                f"({mod_s:.2f} s), baseline {done / base_s:,.0f} members/s ({base_s:.2f} s), "
                f"ratio {base_s / mod_s:.2f}x"
            )
    print(f"load average (1, 5, 15 min): {', '.join(f'{v:.2f}' for v in os.getloadavg())}")
    best_mod = max(m for m, _ in results)
    best_base = max(b for _, b in results)
    print(
        f"best: modqueue {best_mod:,.0f} members/s, baseline {best_base:,.0f} members/s, "
        f"ratio {best_mod / best_base:.2f}x (target >= 5,000 members/s: "
        f"{'met' if best_mod >= 5000 else 'NOT met'})"
    )
    q.close()


if __name__ == "__main__":
    main()
