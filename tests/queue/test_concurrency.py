"""Many processes claiming and deciding at once: each item decided exactly once, and an
audit trail whose chains all verify."""

from __future__ import annotations

import multiprocessing as mp

import pytest
from sqlalchemy import func
from sqlalchemy.engine import make_url
from sqlmodel import col, select

from modqueue.quality import QualityConfig
from modqueue.queue import AuditEvent, Decision, FloodsConfig, Item, ReviewQueue, verify_chain
from tests.conftest import make_item

PROCESSES = 16
# Items per backend (was 20,000 on both: over four minutes on SQLite alone). Every one of
# the sixteen processes contends for every claim either way; more items only repeat the
# same race. PostgreSQL claims in parallel (SKIP LOCKED), so it keeps more rounds. SQLite
# serialises every write through its writers' lock: a double claim could only come from
# that lock letting two writers in at once, which a few thousand contended rounds shows
# as well as 20,000.
ITEMS = {"postgresql": 5_000, "sqlite": 3_000}


def _worker(url: str, reviewer: str, results: mp.Queue) -> None:  # type: ignore[type-arg]
    decided = 0
    # Second reviews off: this test is about each item being decided exactly once.
    no_sampling = QualityConfig(second_review_share=0.0)
    with ReviewQueue(url, auto_migrate=False, quality=no_sampling) as q:
        while True:
            claim = q.claim_next(reviewer)
            if claim is None:
                break
            q.decide(claim, "no-violation")
            decided += 1
    results.put((reviewer, decided))


@pytest.mark.slow
def test_sixteen_processes_decide_each_item_exactly_once(database_url: str) -> None:
    items = ITEMS[make_url(database_url).get_backend_name()]
    # make_item's texts are copies of one another: thousands of them would fold as a
    # fingerprint flood. This test is about claiming, not floods, so folding is off.
    with ReviewQueue(database_url, floods=FloodsConfig(enabled=False)) as q:
        report = q.enqueue(make_item(n) for n in range(items))
        assert report.new == items
    # Fresh processes that import modqueue once, in the fork server, instead of sixteen
    # times (3 s of CPU each on the 2-core CI machine); each worker still opens its own
    # engine and connections.
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["modqueue.queue", "modqueue.quality", __name__])
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(database_url, f"r{i}", results)) for i in range(PROCESSES)
    ]
    for p in procs:
        p.start()
    counts = dict(results.get(timeout=1800) for _ in procs)
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert sum(counts.values()) == items
    with ReviewQueue(database_url, auto_migrate=False) as q, q.session() as s:
        per_item = s.exec(
            select(col(Decision.item_id), func.count())
            .group_by(col(Decision.item_id))
            .having(func.count() > 1)
        ).all()
        assert per_item == []
        assert s.exec(select(func.count()).select_from(Decision)).one() == items
        assert s.exec(select(func.count()).where(col(Item.status) != "decided")).one() == 0
        # Sixteen writers appended to the audit trail at once: every chain still verifies.
        events = s.exec(select(func.count()).select_from(AuditEvent)).one()
        chain = verify_chain(s)
        assert chain.ok and chain.checked == events >= 3 * items
