"""The guideline beside the item: its labels with their keys, and the policy text."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Collapsible, ContentSwitcher, Markdown, Static

from modqueue.guidelines import Guideline

__all__ = ["GuidelinePanel"]


class GuidelinePanel(VerticalScroll):
    """Labels and their hotkeys on top, the guideline's markdown below (collapsible)."""

    guideline_id: str | None = None
    _shown: tuple[str, str, dict[int, str]] | None = None

    def __init__(self, *, id: str) -> None:
        super().__init__(id=id)
        self._documents: dict[tuple[str, str], str] = {}

    def compose(self) -> ComposeResult:
        yield Static(id="guideline-labels")
        with Collapsible(title="Guideline", collapsed=False, id="guideline-body"):
            yield ContentSwitcher(id="guideline-docs")

    def show_guideline(self, guideline: Guideline, keys: dict[int, str]) -> None:
        """Show `guideline`; `keys` maps a label's hotkey digit to the key that picks it."""
        if (guideline.id, guideline.version, keys) == self._shown:
            return
        self._shown = (guideline.id, guideline.version, dict(keys))
        labels = Text()
        labels.append(f"{guideline.title}\n", style="bold")
        if guideline.graphic:
            labels.append("graphic policy: item text hidden until revealed\n", style="italic")
        for label in guideline.labels:
            labels.append(f" {keys.get(label.hotkey, str(label.hotkey))} ", style="reverse")
            labels.append(f" {label.title}")
            labels.append(f"  [{label.action.value}]\n", style="dim")
        labels.rstrip()
        self.query_one("#guideline-labels", Static).update(labels)
        if guideline.id != self.guideline_id:
            self.guideline_id = guideline.id
            collapsible = self.query_one("#guideline-body", Collapsible)
            collapsible.title = f"Guideline: {guideline.id} ({guideline.version})"
            switcher = self.query_one("#guideline-docs", ContentSwitcher)
            key = (guideline.id, guideline.version)
            if key not in self._documents:  # rendered once, then switched to
                self._documents[key] = f"guideline-doc-{len(self._documents)}"
                switcher.mount(
                    Markdown(guideline.body, id=self._documents[key], classes="guideline-markdown")
                )
            switcher.current = self._documents[key]

    def toggle_body(self) -> None:
        """Collapse or expand the guideline text."""
        collapsible = self.query_one("#guideline-body", Collapsible)
        collapsible.collapsed = not collapsible.collapsed
