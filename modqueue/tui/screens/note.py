"""A modal asking for one line of text: a note, or why an item is escalated."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label

__all__ = ["NoteScreen"]


class NoteScreen(ModalScreen[str | None]):
    """Returns the text entered (Enter), or None (Escape)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="note-cancel")]

    def __init__(self, prompt: str, value: str = "") -> None:
        super().__init__()
        self.prompt = prompt
        self.value = value

    def compose(self) -> ComposeResult:
        with Vertical(id="note-dialog"):
            yield Label(self.prompt, id="note-prompt", markup=False)
            yield Input(value=self.value, id="note-input", placeholder="type, then Enter")
            yield Label("Enter to save · Escape to cancel", id="note-hint")

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value.strip())

    def action_cancel(self) -> None:
        """Close without a result."""
        self.dismiss(None)
