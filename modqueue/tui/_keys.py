"""Bindings built from one table of ids, so every key can be remapped from `[tui.keys]`."""

from __future__ import annotations

from textual.binding import Binding

from modqueue._sections.tui import BINDING_IDS

__all__ = ["DESCRIPTIONS", "binding", "display_key"]

DESCRIPTIONS: dict[str, str] = {
    **{f"decide-{n}": f"Decide with label {n}" for n in range(1, 10)},
    "escalate": "Escalate (asks for a note)",
    "skip": "Skip (give the item back)",
    "note": "Note on this item",
    "undo": "Undo last decision",
    "decide-cluster": "Decide the whole cluster (with a preview)",
    "reveal": "Reveal hidden content",
    "toggle-guideline": "Fold the guideline",
    "queues": "Pick a queue",
    "incidents": "Flood incidents (leads)",
    "help": "Help",
    "quit": "Quit",
}

_SHORT = {
    "escalate": "Escalate",
    "skip": "Skip",
    "note": "Note",
    "undo": "Undo",
    "decide-cluster": "Cluster",
    "reveal": "Reveal",
    "toggle-guideline": "Guideline",
    "queues": "Queues",
    "incidents": "Incidents",
    "help": "Help",
    "quit": "Quit",
}

_DISPLAY = {"question_mark": "?"}


def binding(binding_id: str, action: str, *, show: bool = True) -> Binding:
    """The Binding `binding_id` (default key from `BINDING_IDS`) running `action`."""
    return Binding(
        BINDING_IDS[binding_id],
        action,
        _SHORT.get(binding_id, DESCRIPTIONS[binding_id]),
        show=show,
        id=binding_id,
        tooltip=DESCRIPTIONS[binding_id],
    )


def display_key(binding_id: str, keymap: dict[str, str]) -> str:
    """The key that runs `binding_id` under `keymap`, as shown to the reviewer."""
    key = keymap.get(binding_id, BINDING_IDS[binding_id]).split(",")[0].strip()
    return _DISPLAY.get(key, key)
