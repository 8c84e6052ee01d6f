"""A skippable check-in, offered after a run of graphic reveals."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label

__all__ = ["CheckInScreen"]


class CheckInScreen(ModalScreen[None]):
    """Suggests a pause; any of its keys closes it. Nothing is kept of the answer."""

    BINDINGS = [
        Binding("escape", "close", "Continue", id="checkin-continue"),
        Binding("enter", "close", "Continue", id="checkin-ok"),
    ]

    def __init__(self, reveals: int) -> None:
        super().__init__()
        self.reveals = reveals

    def compose(self) -> ComposeResult:
        with Vertical(id="checkin-dialog"):
            yield Label(
                f"You have revealed {self.reveals} graphic items this shift.\n"
                "This is a good moment to look away, stretch, or take a short break.\n"
                "Talking to your lead or a colleague helps too.",
                id="checkin-text",
                markup=False,
            )
            yield Label("Enter or Escape to go on", id="checkin-hint")

    def action_close(self) -> None:
        """Close the check-in."""
        self.dismiss(None)
