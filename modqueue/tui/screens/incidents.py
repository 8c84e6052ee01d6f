"""The lead's flood incidents: the list, and the keys that act on the highlighted one
(decide it with one label, dismiss it, mute its reporter, mark its signal source
unreliable). Every database call runs in a thread worker that posts a message back;
the domain checks the lead's permission (`MANAGE_FLOODS`) and audits each act."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from modqueue._exceptions import ModqueueError
from modqueue.queue import IncidentSummary, ReviewQueue
from modqueue.tui.components.literal import literal
from modqueue.tui.screens.note import NoteScreen

__all__ = ["IncidentsScreen"]


def _error(exc: Exception) -> str:
    return str(exc) if isinstance(exc, ModqueueError) else f"{type(exc).__name__}: {exc}"


class IncidentsScreen(Screen[None]):
    """Flood incidents, open ones first, for a lead."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("l", "decide", "Decide", id="incident-decide", tooltip="Decide with one label"),
        Binding("d", "dismiss_incident", "Dismiss", id="incident-dismiss"),
        Binding("m", "mute", "Mute reporter", id="incident-mute"),
        Binding("x", "unreliable", "Unreliable source", id="incident-unreliable"),
        Binding("escape", "back", "Back", id="incidents-back"),
    ]

    @dataclass
    class Loaded(Message):
        """Incidents read by a worker."""

        incidents: list[IncidentSummary]

    @dataclass
    class Done(Message):
        """An act finished: `text` is shown (an error when `error`)."""

        text: str
        error: bool = False

    def __init__(self, *, queue: ReviewQueue, reviewer: str) -> None:
        super().__init__()
        self.queue = queue
        self.reviewer = reviewer
        self.incidents: list[IncidentSummary] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("reading incidents…", id="incidents-summary")
        yield DataTable(id="incident-table", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "flood incidents"
        table = self.query_one(DataTable)
        table.add_columns("id", "status", "kind", "items", "origin", "rule", "closed")
        self._load()

    @work(thread=True, group="db")
    def _load(self) -> None:
        try:
            self.post_message(self.Loaded(self.queue.list_incidents(self.reviewer)))
        except Exception as exc:
            self.post_message(self.Done(f"could not read incidents: {_error(exc)}", error=True))

    @on(Loaded)
    def _loaded(self, message: Loaded) -> None:
        self.incidents = message.incidents
        table = self.query_one(DataTable)
        row = table.cursor_row
        table.clear()
        for i in message.incidents:
            closed = f"{i.closed_by or ''} {i.label or ''}".strip()
            table.add_row(
                str(i.id),
                i.status,
                i.kind,
                f"{i.item_count:,}",
                literal(i.key),
                i.rule or "",
                literal(closed),
                key=str(i.id),
            )
        if message.incidents:
            table.move_cursor(row=min(row, len(message.incidents) - 1))
        open_ = sum(1 for i in message.incidents if i.status == "open")
        summary = Text(f"{open_} open incident(s)", style="bold")
        summary.append(
            " · l decide with one label · d dismiss (items back to the reviewers) · "
            "m mute the reporter · x mark the signal source unreliable",
            style="dim",
        )
        self.query_one("#incidents-summary", Static).update(summary)

    @on(Done)
    def _done(self, message: Done) -> None:
        self.notify(
            message.text, severity="error" if message.error else "information", markup=False
        )
        self._load()

    def _selected(self) -> IncidentSummary | None:
        table = self.query_one(DataTable)
        if not self.incidents or table.cursor_row >= len(self.incidents):
            self.notify("No incident selected.", severity="warning")
            return None
        return self.incidents[table.cursor_row]

    @work(thread=True, group="db")
    def _act(self, run: Callable[[], str]) -> None:
        try:
            self.post_message(self.Done(run()))
        except Exception as exc:
            self.post_message(self.Done(_error(exc), error=True))

    def action_decide(self) -> None:
        """Ask for a label, then decide every folded item of the incident with it."""
        incident = self._selected()
        if incident is None:
            return

        def labelled(label: str | None) -> None:
            if not label:
                return
            self._act(lambda: self.queue.decide_incident(incident.id, self.reviewer, label).summary)

        self.app.push_screen(
            NoteScreen(f"Label for every folded item of incident {incident.id}"), labelled
        )

    def action_dismiss_incident(self) -> None:
        """Dismiss the incident: its folded items go back to the reviewers."""
        incident = self._selected()
        if incident is not None:
            self._act(
                lambda: (
                    f"incident {incident.id} dismissed: "
                    f"{len(self.queue.dismiss_incident(incident.id, self.reviewer))} item(s) back"
                )
            )

    def action_mute(self) -> None:
        """Mute the reporter of a reporter incident."""
        incident = self._selected()
        if incident is None:
            return
        if incident.kind != "reporter":
            self.notify("Only a reporter incident has a reporter to mute.", severity="warning")
            return

        def mute() -> str:
            folded = self.queue.mute_reporter(incident.key, self.reviewer)
            return f"reporter {incident.key} muted; {sum(len(o.folded) for o in folded)} folded"

        self._act(mute)

    def action_unreliable(self) -> None:
        """Mark the signal source of a source incident unreliable."""
        incident = self._selected()
        if incident is None:
            return
        if incident.kind != "source":
            self.notify("Only a signal-source incident has a source.", severity="warning")
            return
        self._act(
            lambda: (
                f"signal source {incident.key} marked unreliable; "
                f"{len(self.queue.mark_source_unreliable(incident.key, self.reviewer))}"
                " item(s) rescored"
            )
        )

    def action_back(self) -> None:
        """Back to the dashboard."""
        self.dismiss(None)
