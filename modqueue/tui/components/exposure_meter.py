"""How much this reviewer has seen this session and this shift, and when a break is due."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.message import Message
from textual.widgets import Static

from modqueue.queue import ExposureStatus

__all__ = ["ExposureMeter"]


class ExposureMeter(Static):
    """Counts items seen and minutes worked; posts `BreakDue` when a threshold is crossed."""

    @dataclass
    class BreakDue(Message):
        """The reviewer has seen `items` items over `minutes` minutes: suggest a break."""

        items: int
        minutes: int

    def __init__(self, *, break_after_items: int, break_after_minutes: float, id: str) -> None:
        super().__init__(id=id)
        self.break_after_items = break_after_items
        self.break_after_minutes = break_after_minutes
        self.items = 0
        self.minutes = 0.0
        self._next_items = break_after_items
        self._next_minutes = break_after_minutes
        self.break_due = False
        self.status: ExposureStatus | None = None

    def show_budget(self, status: ExposureStatus) -> None:
        """Show the shift's exposure points against the budget."""
        self.status = status
        self._render_meter()

    def on_mount(self) -> None:
        self._render_meter()

    def count(self, *, items: int, minutes: float) -> None:
        """Update the counters; post `BreakDue` once per threshold crossed."""
        self.items = items
        self.minutes = minutes
        if items >= self._next_items or minutes >= self._next_minutes:
            self.break_due = True
            while self._next_items <= items:
                self._next_items += self.break_after_items
            while self._next_minutes <= minutes:
                self._next_minutes += self.break_after_minutes
            self.post_message(self.BreakDue(items, int(minutes)))
        self._render_meter()

    def _render_meter(self) -> None:
        text = Text(f"exposure: {self.items} items · {int(self.minutes)} min")
        status = self.status
        if status is not None and status.enabled:
            style = "bold yellow" if status.points >= status.near_at else ""
            text.append(f" · shift {status.points:.0f}/{status.budget:.0f} pts", style=style)
            if status.held_back:
                text.append(" · graphic queues held back", style="bold yellow")
        if self.break_due:
            text.append("  · break suggested", style="bold")
        self.update(text)
