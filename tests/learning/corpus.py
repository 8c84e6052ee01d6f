"""A small synthetic hate-policy corpus with a known rule, and a fast way to decide it
through the queue's own claim and decide path."""

from __future__ import annotations

import random
from typing import Any

from modqueue.queue import SECOND_REVIEW_SUFFIX, ReviewQueue
from tests.conftest import make_item

FILLER = [
    "today",
    "market",
    "river",
    "station",
    "bakery",
    "weather",
    "garden",
    "music",
    "football",
    "school",
    "bus",
    "library",
    "harbour",
    "festival",
    "coffee",
    "bridge",
    "museum",
    "cinema",
    "tram",
    "village",
    "square",
]
HATEFUL = ("are vermin", "are invaders", "should be sent back", "are a disease")
CLEAN = ("council debated housing", "held a charity dinner", "opened a new clinic", "won the match")
GROUPS = ("those people", "the newcomers", "that community", "the neighbours")


def post(rng: random.Random, violating: bool) -> str:
    words = rng.sample(FILLER, 6)
    phrase = rng.choice(HATEFUL if violating else CLEAN)
    return f"{' '.join(words[:3])} {rng.choice(GROUPS)} {phrase} {' '.join(words[3:])}"


def hate_items(
    n: int, *, start: int = 0, seed: int = 7, share: float = 0.5
) -> list[dict[str, Any]]:
    """`n` hate items; a share of them violating (the truth rides in `_violating`)."""
    rng = random.Random(seed + start)
    out = []
    for i in range(start, start + n):
        violating = rng.random() < share
        item = make_item(i, policy="hate", text=post(rng, violating), signals=[])
        item["_violating"] = violating
        out.append(item)
    return out


def decide_all(
    queue: ReviewQueue,
    items: list[dict[str, Any]],
    *,
    label_for: Any = None,
    reviewer: str = "alice",
    second_reviewer: str = "bob",
) -> int:
    """Ingest `items` and decide each one as its truth says (`remove-hate` or
    `no-violation`, a few `restrict-borderline`); the number decided.

    The product's default blind second review stays on: the items it samples are
    decided again by `second_reviewer`, who agrees, so every item ends final."""
    truth = {i["external_id"]: i.pop("_violating") for i in items}
    queue.enqueue(items)
    chosen: dict[str, str] = {}
    decided = 0
    while (claim := queue.claim_next(reviewer, ["hate"])) is not None:
        violating = truth[claim.item.external_id]
        if label_for is not None:
            label = label_for(claim.item, violating)
        elif violating:
            label = "restrict-borderline" if claim.item.id % 7 == 0 else "remove-hate"
        else:
            label = "no-violation"
        chosen[claim.item.external_id] = label
        queue.decide(claim, label)
        decided += 1
    second_review = f"hate{SECOND_REVIEW_SUFFIX}"
    while (claim := queue.claim_next(second_reviewer, [second_review])) is not None:
        queue.decide(claim, chosen[claim.item.external_id])
    return decided
