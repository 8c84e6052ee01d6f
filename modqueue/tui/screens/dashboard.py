"""The lead dashboard: every queue's health, refreshed live."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Header, Sparkline, Static

from modqueue._exceptions import PermissionDenied
from modqueue.queue import DashboardMetrics, ReviewQueue
from modqueue.tui._keys import binding
from modqueue.tui.components import QueueHealthTable

__all__ = ["DashboardScreen"]


class DashboardScreen(Screen[None]):
    """Per queue depth, decided/hour, median handling time, breaches, escalations and action
    outcomes; a timer starts a worker that reads fresh numbers every `refresh_seconds`.

    Leads and above only (once reviewers are registered): a refusal is shown on the screen
    and as an error notification, and the timer stops, so it is audited once."""

    BINDINGS = [
        binding("queues", "pick_queue"),
        binding("incidents", "incidents"),
        binding("help", "app.help"),
        binding("quit", "app.quit"),
    ]

    @dataclass
    class Loaded(Message):
        """Fresh metrics, read in a worker."""

        metrics: DashboardMetrics

    @dataclass
    class Failed(Message):
        """Reading the metrics failed."""

        error: str

    @dataclass
    class Refused(Message):
        """The viewer may not see the dashboard."""

        error: str

    def __init__(self, *, queue: ReviewQueue, reviewer: str, refresh_seconds: float) -> None:
        super().__init__()
        self.queue = queue
        self.reviewer = reviewer
        self.refresh_seconds = refresh_seconds
        self.metrics: DashboardMetrics | None = None
        self.refused: str | None = None
        self._loading = False
        self._timer: Timer | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="dashboard"):
            yield Static("", id="dashboard-summary")
            with Horizontal(id="dashboard-charts"):
                with Vertical(classes="chart"):
                    yield Static("decided per hour, last 12 hours", classes="chart-title")
                    yield Sparkline([0], id="decided-sparkline")
                with Vertical(classes="chart"):
                    yield Static(
                        "action outcomes (pending sent done declined failed)", classes="chart-title"
                    )
                    yield Sparkline([0], id="actions-sparkline")
            yield QueueHealthTable(id="queue-health")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "lead dashboard"
        self.refresh_metrics()
        self._timer = self.set_interval(self.refresh_seconds, self.refresh_metrics)

    def refresh_metrics(self) -> None:
        """Start a read unless one is running (or the viewer was refused)."""
        if not self._loading and self.refused is None:
            self._loading = True
            self._load()

    @work(thread=True, group="db")
    def _load(self) -> None:
        try:
            metrics = self.queue.dashboard(self.reviewer)
        except PermissionDenied as exc:
            self.post_message(self.Refused(str(exc)))
            return
        except Exception as exc:  # shown, never raised: the dashboard stays up
            self.post_message(self.Failed(f"could not read the metrics: {exc}"))
            return
        self.post_message(self.Loaded(metrics))

    @on(Loaded)
    def _loaded(self, message: Loaded) -> None:
        self._loading = False
        metrics = message.metrics
        self.metrics = metrics
        depth = sum(q.depth for q in metrics.queues)
        breaches = sum(q.deadline_breaches for q in metrics.queues)
        summary = Text()
        summary.append(f"{len(metrics.queues)} queues · {depth} pending · ", style="bold")
        summary.append(f"{breaches} deadline breaches", style="bold red" if breaches else "bold")
        automated = f" (+{metrics.automated} automated)" if metrics.automated else ""
        summary.append(
            f" · {sum(metrics.decided_series)} decided{automated} in {metrics.window_hours}h · "
            f"as of {metrics.generated_at:%Y-%m-%d %H:%M:%S} UTC"
        )
        drifted = [f"{m.policy} {m.version}" for m in metrics.models if m.drifted]
        if drifted:
            summary.append(f" · model drift: {', '.join(drifted)}", style="bold red")
        self.query_one("#dashboard-summary", Static).update(summary)
        self.query_one("#decided-sparkline", Sparkline).data = list(metrics.decided_series)
        outcomes = [
            metrics.actions.get(k, 0) for k in ("pending", "sent", "done", "declined", "failed")
        ]
        self.query_one("#actions-sparkline", Sparkline).data = outcomes
        self.query_one(QueueHealthTable).show_metrics(metrics)

    @on(Refused)
    def _refused(self, message: Refused) -> None:
        self._loading = False
        self.refused = message.error
        if self._timer is not None:
            self._timer.stop()
        refusal = Text("The lead dashboard is for leads and admins. ", style="bold red")
        refusal.append(message.error, style="")
        self.query_one("#dashboard-summary", Static).update(refusal)
        self.notify(message.error, title="Access denied", severity="error", markup=False)

    @on(Failed)
    def _failed(self, message: Failed) -> None:
        self._loading = False
        self.notify(message.error, severity="error", markup=False)

    def action_incidents(self) -> None:
        """Flood incidents: decide, dismiss, mute a reporter, mark a source unreliable."""
        if self.refused is not None:
            self.notify(self.refused, title="Access denied", severity="error", markup=False)
            return
        from modqueue.tui.screens.incidents import IncidentsScreen

        self.app.push_screen(IncidentsScreen(queue=self.queue, reviewer=self.reviewer))

    def action_pick_queue(self) -> None:
        """Review a queue (senior ones included) from here."""
        if self.refused is not None:
            self.notify(self.refused, title="Access denied", severity="error", markup=False)
            return
        opener = getattr(self.app, "open_queue_picker", None)
        if callable(opener):
            opener(include_senior=True)
