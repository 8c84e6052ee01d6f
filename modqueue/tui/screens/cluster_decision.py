"""The cluster decision dialog: pick a label, leave members out, read the preview
("apply 'remove' to 37 items; 2 excluded"), then apply or cancel.

The preview is read by a thread worker (`ReviewQueue.preview_cluster`) each time the
label or the exclusions change; nothing is written until the reviewer applies, and the
review screen then decides through `ReviewQueue.decide_cluster`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList, SelectionList, Static
from textual.widgets.option_list import Option
from textual.widgets.selection_list import Selection

from modqueue._exceptions import ModqueueError
from modqueue.guidelines import Action, Guideline
from modqueue.queue import ClusterPreview, ClusterView, ReviewQueue
from modqueue.tui.components.literal import sanitize

__all__ = ["ClusterChoice", "ClusterDecisionScreen", "preview_line"]


@dataclass(frozen=True, slots=True)
class ClusterChoice:
    """What the reviewer chose: a label, and the members left out."""

    label: str
    exclude: tuple[int, ...]


def preview_line(preview: ClusterPreview, held: frozenset[int]) -> str:
    """The preview's summary, counting the members this reviewer holds as applied (the
    review screen gives them back just before it decides the cluster)."""
    mine = [s.item_id for s in preview.skipped if s.item_id in held]
    if mine:
        preview = replace(
            preview,
            applied=sorted([*preview.applied, *mine]),
            skipped=[s for s in preview.skipped if s.item_id not in held],
        )
    return preview.summary


class ClusterDecisionScreen(ModalScreen[ClusterChoice | None]):
    """Returns the reviewer's `ClusterChoice` (`a`), or None (Escape)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="cluster-cancel"),
        Binding("a", "apply", "Apply", id="cluster-apply"),
    ]

    @dataclass
    class Previewed(Message):
        """A preview read for `key` (label, exclusions), or why it failed."""

        key: tuple[str, tuple[int, ...]]
        line: str
        error: bool = False

    def __init__(
        self,
        *,
        queue: ReviewQueue,
        reviewer: str,
        view: ClusterView,
        guideline: Guideline,
        held: frozenset[int] = frozenset(),
    ) -> None:
        super().__init__()
        self.queue = queue
        self.reviewer = reviewer
        self.view = view
        self.labels = [lb for lb in guideline.labels if lb.action != Action.ESCALATE]
        self.held = held
        self.key: tuple[str, tuple[int, ...]] | None = None
        self.ready = False

    def compose(self) -> ComposeResult:
        summary = self.view.summary
        with Vertical(id="cluster-dialog"):
            yield Label(
                f"Decide cluster {summary.id}: {summary.members:,} copies",
                id="cluster-title",
                markup=False,
            )
            yield OptionList(
                *(
                    Option(f"{lb.hotkey}  {sanitize(lb.title)}  [{lb.action.value}]", id=lb.id)
                    for lb in self.labels
                ),
                id="cluster-labels",
                markup=False,
            )
            yield SelectionList[int](
                *(
                    Selection(
                        Text(
                            f"#{m.item_id} {sanitize(m.author_handle or '?')} "
                            f"{sanitize((m.text or '').replace(chr(10), ' ')[:60])}"
                        ),
                        m.item_id,
                        True,
                    )
                    for m in self.view.members
                ),
                id="cluster-members",
            )
            yield Static("pick a label", id="cluster-preview", markup=False)
            yield Label(
                "↑↓ label · Tab members · Space include/exclude · a apply · Escape cancel",
                id="cluster-hint",
                markup=False,
            )

    def on_mount(self) -> None:
        self.query_one(OptionList).highlighted = 0
        self.query_one(OptionList).focus()
        self._changed()

    def _choice(self) -> ClusterChoice | None:
        options = self.query_one(OptionList)
        if options.highlighted is None or not self.labels:
            return None
        label = self.labels[options.highlighted].id
        kept = set(self.query_one("#cluster-members", SelectionList).selected)
        exclude = tuple(sorted(m.item_id for m in self.view.members if m.item_id not in kept))
        return ClusterChoice(label, exclude)

    def _changed(self) -> None:
        choice = self._choice()
        if choice is None:
            return
        key = (choice.label, choice.exclude)
        if key == self.key:
            return
        self.key = key
        self.ready = False
        self.query_one("#cluster-preview", Static).update("reading the preview…")
        self._preview(choice)

    @on(OptionList.OptionHighlighted)
    def _label_moved(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        self._changed()

    @on(SelectionList.SelectedChanged)
    def _members_changed(self, event: SelectionList.SelectedChanged[int]) -> None:
        event.stop()
        self._changed()

    @work(thread=True, group="cluster-preview", exclusive=True)
    def _preview(self, choice: ClusterChoice) -> None:
        key = (choice.label, choice.exclude)
        try:
            preview = self.queue.preview_cluster(
                self.view.summary.id, choice.label, self.reviewer, exclude=choice.exclude
            )
            self.post_message(self.Previewed(key, preview_line(preview, self.held)))
        except Exception as exc:
            reason = str(exc) if isinstance(exc, ModqueueError) else type(exc).__name__
            self.post_message(self.Previewed(key, f"cannot decide: {reason}", error=True))

    @on(Previewed)
    def _previewed(self, message: Previewed) -> None:
        if message.key != self.key:
            return  # an older preview: the choice changed since
        self.ready = not message.error
        self.query_one("#cluster-preview", Static).update(message.line)

    def action_apply(self) -> None:
        """Apply the previewed decision (only once its preview is on screen)."""
        choice = self._choice()
        if choice is None or not self.ready or (choice.label, choice.exclude) != self.key:
            self.notify("Wait for the preview before applying.", severity="warning")
            return
        self.dismiss(choice)

    def action_cancel(self) -> None:
        """Close without deciding."""
        self.dismiss(None)
