"""A seeded database for the export tests: decided items with second reviews, a senior
decision, an overturned appeal, reporters, authors and contact details in text."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from modqueue.quality import QualityConfig, open_appeal
from modqueue.queue import ReviewQueue
from tests.conftest import Clock, make_item

KEY = "test-export-key-0123456789abcdef"
REVIEWERS = ("Alice Smith", "Bob Jones", "Sam Senior", "Rita Senior")
REPORTER = {"id": "reporter-4711", "contact": "reporter.person@example.org", "name": "Ann Onymous"}
AUTHOR = {"id": "author-account-9911", "handle": "@real_handle_xyz"}
SENSITIVE_TEXT = (
    "Boat leaves Friday, text me at +44 7700 900123 or mail crossing.agent@mail.example"
)


@dataclass
class Seeded:
    url: str
    clock: Clock
    ids: dict[str, int]


def seed(url: str, clock: Clock) -> Seeded:
    """Decide a handful of items every way an item can be decided."""
    with (
        ReviewQueue(url, clock=clock, quality=QualityConfig(second_review_share=0.0)) as q,
        ReviewQueue(url, clock=clock, quality=QualityConfig(second_review_share=1.0)) as sampled,
    ):
        q.enqueue(
            [
                make_item(
                    1,
                    text=SENSITIVE_TEXT,
                    author=AUTHOR,
                    reporter=REPORTER,
                    url="https://platform.example/p/1",
                    media=[{"kind": "image", "url": "https://cdn.example/1.jpg"}],
                ),
                make_item(2, text="Fake passports for sale, delivery across Europe"),
                make_item(3, text="News report: coastguard rescues people in the Channel"),
                make_item(4, text="Warning from an NGO about crossing scams this winter"),
                make_item(5, text="Not decided yet: stays out of the export"),
                make_item(6, text="hateful post aimed at a religion", policy="hate"),
            ]
        )
        ids = {f"post-{n}": n for n in range(1, 7)}
        # post-1: primary + agreeing second review (final), Alice then Bob.
        first = q.claim(1, "Alice Smith")
        clock.advance(seconds=12)
        sampled.decide(first, "remove-ban-refer", note="Alice's note about the reporter")
        clock.advance(seconds=1)
        second = q.claim(1, "Bob Jones")
        clock.advance(seconds=30)
        q.decide(second, "remove-ban-refer", origin="tui")
        # post-2: disagreement, senior decides.
        clock.advance(seconds=60)
        got = q.claim(2, "Alice Smith")
        sampled.decide(got, "remove-fake-documents")
        got = q.claim(2, "Bob Jones")
        q.decide(got, "restrict-testimonial", origin="labelstudio")
        got = q.claim(2, "Sam Senior")
        clock.advance(seconds=5)
        q.decide(got, "remove-fake-documents", origin="tui")
        # post-3: single decision, then an overturned appeal.
        got = q.claim(3, "Bob Jones")
        q.decide(got, "remove-fake-documents", origin="tui")
        clock.advance(minutes=10)
        q.run(
            lambda s: open_appeal(
                s, item_id=3, note="Reporter Ann says it is news", actor="support", now=clock()
            )
        )
        got = q.claim(3, "Rita Senior")
        q.decide(got, "news-or-safety-warning", origin="tui")
        # post-4: single decision; post-6: hate policy.
        got = q.claim(4, "Alice Smith")
        q.decide(got, "news-or-safety-warning", origin="tui")
        got = q.claim(6, "Bob Jones")
        q.decide(got, "remove-hate", origin="tui")
    return Seeded(url, clock, ids)


@pytest.fixture
def seeded(database_url: str, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> Seeded:
    monkeypatch.setenv("MODQUEUE_EXPORT_KEY", KEY)
    return seed(database_url, clock)
