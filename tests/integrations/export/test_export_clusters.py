"""The export and the lead dashboard with clusters: every cluster in one split, automated
(propagated) decisions marked `automated: true` and counted apart, on both backends."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import update
from sqlmodel import col

from modqueue.integrations.export import export_dataset
from modqueue.queue import Item, ReviewQueue, apply_cluster_standing
from tests.conftest import Clock, make_item
from tests.support.clusters import seed_cluster

REMOVE = "remove-fake-documents"
# Different enough that their own content keys would not match, one cluster all the same.
TEXTS = [
    "Fake passports for sale, any country, delivered in three days",
    "Selling driving licences and residence cards, message me for prices",
    "Identity documents made to order, Channel crossing papers included",
    "New national ID cards, fast shipping, trusted seller since years",
]


def _read(out: Path) -> dict[str, tuple[str, dict[str, object]]]:
    found = {}
    for split in ("train", "validation", "test"):
        path = out / f"{split}.jsonl"
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                record = json.loads(line)
                found[record["id"]] = (split, record)
    return found


def test_a_cluster_stays_in_one_split_and_propagated_labels_are_automated(
    database_url: str, clock: Clock, tmp_path: Path
) -> None:
    with ReviewQueue(database_url, clock=clock) as q:
        q.enqueue([make_item(n, text=t) for n, t in enumerate(TEXTS, start=1)])
        cluster_id = seed_cluster(q, [1, 2, 3])
        q.decide_cluster(cluster_id, "alice", REMOVE)
        # A late copy decided by propagation (auto, nobody sent to review).
        seed_cluster(q, [4])  # created apart, then joined to the decided cluster
        with q.session() as s:
            s.execute(update(Item).where(col(Item.id) == 4).values(cluster_id=cluster_id))
        outcome = q.run(
            lambda s: apply_cluster_standing(
                s,
                cluster_id=cluster_id,
                item_ids=[4],
                guidelines=q.guidelines,
                now=q.clock(),
                propagate="auto",
                review_share=0.0,
            )
        )
        assert outcome.decided == [4]
        metrics = q.dashboard("lead")
        (queue,) = [h for h in metrics.queues if h.queue == "people-smuggling"]
        assert (queue.automated, metrics.automated) == (1, 1)
        assert sum(queue.decided_series) == 3  # people's decisions only
        report = export_dataset(q.engine, out=tmp_path / "out", now=clock())
        assert report is not None
    records = _read(tmp_path / "out")
    ids = [f"platform-reports:post-{n}" for n in (1, 2, 3, 4)]
    assert {records[i][0] for i in ids} == {records[ids[0]][0]}  # one split
    assert [records[i][1]["automated"] for i in ids] == [False, False, False, True]
