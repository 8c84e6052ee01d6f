"""The keys of the review screen, as currently mapped."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from modqueue._sections.tui import BINDING_IDS
from modqueue.tui._keys import DESCRIPTIONS, display_key

__all__ = ["HelpScreen"]

_ABOUT = (
    "Label keys decide the item with the guideline's label of that number. Graphic text "
    "and every media link stay hidden until you reveal them. Undo works within the grace "
    "period and only before the platform action is sent. Skipped items go back to the queue."
)


class HelpScreen(ModalScreen[None]):
    """Every binding id, its key and what it does; any of Escape, q or ? closes it."""

    BINDINGS = [
        Binding("escape,q,question_mark", "close", "Close", id="help-close"),
    ]

    def __init__(self, keymap: dict[str, str]) -> None:
        super().__init__()
        self.keymap = keymap

    def compose(self) -> ComposeResult:
        text = Text("Keys\n\n", style="bold")
        for binding_id in BINDING_IDS:
            text.append(f" {display_key(binding_id, self.keymap):>8} ", style="reverse")
            text.append(f"  {DESCRIPTIONS[binding_id]}")
            text.append(f"  ({binding_id})\n", style="dim")
        text.append("\n" + _ABOUT + "\n\nRemap keys in modqueue.toml under [tui.keys].")
        with VerticalScroll(id="help-dialog"):
            yield Static(text, id="help-text")

    def action_close(self) -> None:
        """Back to the review."""
        self.dismiss(None)
