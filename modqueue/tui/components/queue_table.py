"""The queues a reviewer may pick: depth, claimed, age of the oldest flag, longest wait
since ingest and deadline breaches (flag time plus SLA)."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.message import Message
from textual.widgets import DataTable

from modqueue.queue import QueueSummary
from modqueue.tui.components.item_card import human_duration
from modqueue.tui.components.literal import literal

__all__ = ["ALL_QUEUES", "QueueTable"]

ALL_QUEUES = ""
"""The row key of "every queue I may work"."""


def _age(seconds: int | None) -> str:
    return "-" if seconds is None else human_duration(seconds)


class QueueTable(DataTable[Text | str]):
    """One row per queue; Enter posts `QueuePicked`."""

    @dataclass
    class QueuePicked(Message):
        """The reviewer picked `queue` (`ALL_QUEUES` for every queue)."""

        queue: str

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.add_column("queue", key="queue", width=32)
        self.add_column("depth", key="depth")
        self.add_column("claimed", key="claimed")
        # Each column names its clock: deadlines run from the flag, waiting from ingest.
        self.add_column("oldest flag", key="flagged")
        self.add_column("waiting since ingest", key="oldest")
        self.add_column("past deadline", key="late")

    def show_queues(self, queues: list[QueueSummary]) -> None:
        """Replace the rows with `queues` (plus an "every queue" row on top)."""
        self.clear()
        self.add_row(
            Text("(every queue)", style="italic"),
            str(sum(q.depth for q in queues if not q.senior)),
            str(sum(q.claimed for q in queues if not q.senior)),
            "",
            "",
            str(sum(q.past_deadline for q in queues if not q.senior)),
            key=ALL_QUEUES,
        )
        for q in queues:
            late = Text(str(q.past_deadline), style="bold red" if q.past_deadline else "")
            self.add_row(
                literal(q.name),
                str(q.depth),
                str(q.claimed),
                _age(q.oldest_flagged_seconds),
                _age(q.oldest_pending_seconds),
                late,
                key=q.name,
            )

    @on(DataTable.RowSelected)
    def _picked(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.post_message(self.QueuePicked(str(event.row_key.value or ALL_QUEUES)))
