"""Pick a queue: depth, oldest item's age and deadline breaches of each.

Only the queues the reviewer may work are listed (their granted policies; senior queues
for seniors and above), as the service reads them (`reviewer_queues(reviewer=...)`)."""

from __future__ import annotations

from dataclasses import dataclass

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from modqueue.queue import QueueSummary, ReviewQueue, reviewer_queues
from modqueue.tui._keys import binding
from modqueue.tui.components import QueueTable

__all__ = ["QueuesScreen"]


class QueuesScreen(Screen[str | None]):
    """Returns the picked queue (`""` for every queue), or None when left with Escape."""

    BINDINGS = [
        Binding("escape", "back", "Back", id="queues-back"),
        binding("help", "app.help"),
        binding("quit", "app.quit"),
    ]

    @dataclass
    class Loaded(Message):
        """The queue summaries, read in a worker."""

        queues: list[QueueSummary]

    @dataclass
    class Failed(Message):
        """Reading the queues failed."""

        error: str

    def __init__(
        self, *, queue: ReviewQueue, include_senior: bool, reviewer: str | None = None
    ) -> None:
        super().__init__()
        self.queue = queue
        self.include_senior = include_senior
        self.reviewer = reviewer

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Pick a queue (Enter)", id="queues-title")
        yield QueueTable(id="queue-table")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "queues"
        if self.reviewer is None:  # the app's reviewer, read here, not in the worker
            reviewer = getattr(self.app, "reviewer", None)
            self.reviewer = reviewer if isinstance(reviewer, str) else None
        self.load()

    @work(thread=True, group="db")
    def load(self) -> None:
        """Read the queue summaries off the UI thread."""
        try:
            found = self.queue.read(
                lambda s: reviewer_queues(
                    s,
                    now=self.queue.clock(),
                    include_senior=self.include_senior,
                    reviewer=self.reviewer,
                )
            )
        except Exception as exc:  # shown, never raised: the UI stays up
            self.post_message(self.Failed(f"could not read the queues: {exc}"))
            return
        self.post_message(self.Loaded(found))

    @on(Loaded)
    def _loaded(self, message: Loaded) -> None:
        self.query_one(QueueTable).show_queues(message.queues)
        self.query_one(QueueTable).focus()

    @on(Failed)
    def _failed(self, message: Failed) -> None:
        self.notify(message.error, severity="error", markup=False)

    @on(QueueTable.QueuePicked)
    def _picked(self, message: QueueTable.QueuePicked) -> None:
        self.dismiss(message.queue)

    def action_back(self) -> None:
        """Leave without picking."""
        self.dismiss(None)
