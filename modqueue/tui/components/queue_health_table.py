"""The lead's per-queue health table: depth, throughput (with a sparkline), handling time,
breaches, escalations, exposure (the queue's, summed over everyone) and action outcomes."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import DataTable

from modqueue.queue import DashboardMetrics
from modqueue.tui.components.item_card import human_duration
from modqueue.tui.components.literal import literal

__all__ = ["QueueHealthTable", "sparkline"]

_BARS = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[int]) -> str:
    """`values` as a row of block characters, scaled to the largest."""
    top = max(values, default=0)
    if top <= 0:
        return _BARS[0] * len(values)
    return "".join(_BARS[min(len(_BARS) - 1, round(v / top * (len(_BARS) - 1)))] for v in values)


_OUTCOMES = ("pending", "sent", "done", "declined", "failed")
_SHORT = {"pending": "pend", "sent": "sent", "done": "done", "declined": "decl", "failed": "fail"}


class QueueHealthTable(DataTable[Text | str]):
    """One row per queue, refreshed in place."""

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.zebra_stripes = True
        self.add_column("queue", key="queue", width=24)
        for label, key in (
            ("depth", "depth"),
            ("claimed", "claimed"),
            ("decided/h", "rate"),
        ):
            self.add_column(label, key=key)
        self.add_column("last 12h", key="spark", width=12)
        for label, key in (
            ("median", "median"),
            ("late", "breaches"),
            ("escal.", "escalations"),
            ("exposure", "exposure"),
            *((_SHORT[name], f"action-{name}") for name in _OUTCOMES),
        ):
            self.add_column(label, key=key)

    def show_metrics(self, metrics: DashboardMetrics) -> None:
        """Replace the rows with `metrics`, keeping the cursor row."""
        row = self.cursor_row
        self.clear()
        for q in metrics.queues:
            median = (
                "-"
                if q.median_handling_seconds is None
                else human_duration(q.median_handling_seconds)
            )
            breaches = Text(
                str(q.deadline_breaches), style="bold red" if q.deadline_breaches else ""
            )
            self.add_row(
                literal(q.queue),
                str(q.depth),
                str(q.claimed),
                str(q.decided_last_hour),
                Text(sparkline(q.decided_series), style="green"),
                median,
                breaches,
                str(q.escalations),
                f"{q.exposure_points:.0f}/{q.exposure_reveals}r",
                *(str(q.actions.get(name, 0)) for name in _OUTCOMES),
                key=q.queue,
            )
        if metrics.queues:
            self.move_cursor(row=min(row, len(metrics.queues) - 1))
