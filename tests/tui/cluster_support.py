"""A queue whose first item is one of five copies of an advert (a cluster), plus two
unrelated items: for the cluster card's pilot and snapshot tests."""

from __future__ import annotations

from typing import Any

from modqueue.queue import ReviewQueue
from tests.conftest import make_item
from tests.support.clusters import seed_cluster

ADVERT = "Safe crossing to UK this {day}, {price} EUR per person, call {phone} now"
COPIES = [
    ("Friday", "2000", "+44 7700 900123", "@safe_travel"),
    ("Friday", "1500", "+44 7700 900123", "@travel_safe"),
    ("Sunday", "2000", "+44 7700 900999", "@uk_boats"),
    ("Friday", "2000", "+44 7700 900123", "@safe_travel2"),
    ("Monday", "1800", "+44 7700 900555", "@crossings"),
]


def cluster_items() -> list[dict[str, Any]]:
    """The five copies (item ids 1-5 in this order: highest reach first) and two others."""
    items = [
        make_item(
            n,
            text=ADVERT.format(day=day, price=price, phone=phone),
            author={"id": f"acct-{n}", "handle": handle},
            views=100_000 - n * 1_000,
            report_count=20,
        )
        for n, (day, price, phone, handle) in enumerate(COPIES, start=1)
    ]
    items.append(make_item(6, text="Farm work, cash, no questions", policy="drug-supply"))
    items.append(make_item(7, text="Who knows where this man lives?", policy="doxxing"))
    return items


def seed_cluster_queue(queue: ReviewQueue) -> int:
    """Ingest `cluster_items` and put items 1-5 in one cluster (1 the representative)."""
    report = queue.enqueue(cluster_items())
    assert report.new == 7 and not report.rejected
    return seed_cluster(queue, [1, 2, 3, 4, 5])
