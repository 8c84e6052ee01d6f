"""The reviewer's terminal UI (Textual): review, queues, lead dashboard.

Importing this package loads neither Textual nor Rich (the configuration loader imports
`TuiConfig` from it); `run_review_app` imports the app when called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Unpack

from modqueue._sections.tui import BINDING_IDS, TuiConfig
from modqueue.tui._options import AppOptions

if TYPE_CHECKING:
    from modqueue.queue import ReviewQueue

__all__ = ["BINDING_IDS", "TuiConfig", "run_review_app"]


def run_review_app(*, queue: ReviewQueue, reviewer: str, **options: Unpack[AppOptions]) -> None:
    """Run the reviewer's UI on `queue` until the reviewer quits.

    `mode="review"` opens the review screen on `queues` (default: every non-senior
    queue), `"pick"` starts on the queue picker, `"lead"` on the lead dashboard.
    """
    from modqueue.tui.app import ReviewApp

    ReviewApp(queue=queue, reviewer=reviewer, **options).run()
