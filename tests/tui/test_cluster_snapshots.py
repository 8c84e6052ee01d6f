"""Snapshots of the cluster card and the cluster decision dialog (SQLite, fixed clock,
fixed items). Regenerate with `--snapshot-update` after a deliberate change and look at
the SVGs before committing them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Static

from modqueue.queue import ReviewQueue
from tests.conftest import Clock
from tests.tui.cluster_support import seed_cluster_queue
from tests.tui.conftest import SIZE
from tests.tui.test_snapshots import review_app, settled

Snap = Callable[..., bool]


@pytest.fixture
def cluster_snap_queue(tmp_path: Path) -> Iterator[ReviewQueue]:
    queue = ReviewQueue(f"sqlite:///{tmp_path}/clusters.db", clock=Clock())
    seed_cluster_queue(queue)
    yield queue
    queue.close()


async def previewed(pilot: Pilot[Any], expected: str) -> None:
    for _ in range(50):
        await settled(pilot)
        shown = str(pilot.app.screen.query_one("#cluster-preview", Static).render())
        if expected in shown:
            return
    raise AssertionError(f"no preview {expected!r}")


def test_review_screen_with_cluster_card(
    snap_compare: Snap, cluster_snap_queue: ReviewQueue
) -> None:
    assert snap_compare(review_app(cluster_snap_queue), terminal_size=SIZE, run_before=settled)


def test_cluster_decision_preview(snap_compare: Snap, cluster_snap_queue: ReviewQueue) -> None:
    async def open_and_exclude(pilot: Pilot[Any]) -> None:
        await settled(pilot)
        await pilot.press("C")
        await previewed(pilot, "to 5 items")
        await pilot.press("down", "down", "down", "tab", "down", "down", "space")
        await previewed(pilot, "apply 'remove_and_ban' to 4 items; 1 excluded")

    assert snap_compare(
        review_app(cluster_snap_queue), terminal_size=SIZE, run_before=open_and_exclude
    )
