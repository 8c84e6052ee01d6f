"""The item under review: its text, links, author, signals, reach, deadline and priority."""

from __future__ import annotations

from datetime import datetime

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from modqueue.queue import Claim
from modqueue.tui.components.literal import literal, literal_block
from modqueue.tui.components.media_panel import MediaPanel

__all__ = ["ItemCard", "human_duration"]


def human_duration(seconds: float) -> str:
    """`seconds` as `3d 4h`, `2h 05m`, `7m` or `40s`."""
    seconds = abs(int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m"
    return f"{secs}s"


class ItemCard(VerticalScroll):
    """Shows one claimed item; hidden parts stay behind a notice until revealed."""

    shown_item_id: int | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="item-meta")
        yield Static(id="item-text")
        yield Static(id="item-media")
        yield MediaPanel(id="media-panel")
        yield Static(id="item-signals")
        yield Static(id="item-priority")

    def show_empty(self, message: str) -> None:
        """No item: show `message` instead."""
        self.query_one("#item-meta", Static).update(Text(message, style="bold"))
        for part in ("#item-text", "#item-media", "#item-signals", "#item-priority"):
            self.query_one(part, Static).update("")
        self.query_one(MediaPanel).clear()
        self.shown_item_id = None

    def show_claim(
        self,
        claim: Claim,
        *,
        now: datetime,
        graphic: bool,
        revealed: bool,
        reveal_key: str,
        max_chars: int,
    ) -> None:
        """Render `claim`'s item as of `now`."""
        item = claim.item
        meta = Text()
        meta.append(f"item {item.id}", style="bold")
        meta.append(f"  queue {claim.queue}  ")
        meta.append(literal(f"{item.source}/{item.external_id}", style="dim"))
        meta.append("\nauthor ")
        meta.append(literal(item.author_handle or "?", style="bold"))
        if item.author_id:
            meta.append(" (")
            meta.append(literal(item.author_id))
            meta.append(")")
        if item.url:
            meta.append("\nurl ")
            meta.append(literal(item.url, style="underline"))
        flagged = item.flagged_at or item.ingested_at
        left = (item.deadline_at - now).total_seconds()
        meta.append(
            f"\nreports {item.report_count:,} · reach {item.views:,} views · "
            f"in queue {human_duration((now - flagged).total_seconds())} · "
        )
        if left >= 0:
            meta.append(f"deadline in {human_duration(left)}")
        else:
            meta.append(f"OVERDUE by {human_duration(left)}", style="bold red")
        self.query_one("#item-meta", Static).update(meta)

        body = self.query_one("#item-text", Static)
        if graphic and not revealed:
            body.update(
                Text(
                    f"Graphic policy: the text is hidden. Press {reveal_key} to reveal it.",
                    style="italic",
                )
            )
        elif item.text:
            body.update(literal_block(item.text, max_chars=max_chars))
        else:
            body.update(Text("(no text)", style="dim"))

        media = Text()
        if item.media and not revealed:
            media.append(
                f"{len(item.media)} media link(s) hidden. Press {reveal_key} to reveal.",
                style="italic",
            )
        for entry in item.media if revealed else []:
            media.append(literal(entry.get("kind", "media")))
            media.append(" ")
            media.append(literal(entry.get("url", ""), style="underline"))
            media.append("\n")
        media.rstrip()
        self.query_one("#item-media", Static).update(media)

        signals = Text("signals ", style="bold")
        if not item.signals:
            signals.append("none", style="dim")
        for n, signal in enumerate(item.signals[:20]):
            if n:
                signals.append(", ")
            signals.append(literal(signal.get("name", "?")))
            score = signal.get("score")
            if isinstance(score, int | float):
                signals.append(f" {score:.2f}")
        suggestion = item.suggestion
        if suggestion and suggestion.get("band") == "suggest":
            signals.append("\nmodel suggests ", style="bold")
            signals.append(literal(str(suggestion.get("label", "?"))))
            signals.append(f" {float(suggestion.get('score', 0.0)):.2f} ", style="dim")
            signals.append(literal(suggestion.get("signal", ""), style="dim"))
            signals.append(" - yours to decide", style="dim")
        self.query_one("#item-signals", Static).update(signals)

        priority = Text(f"priority {claim.priority:.1f}", style="bold")
        parts = claim.breakdown.get("parts", {})
        if isinstance(parts, dict):
            for name, part in parts.items():
                points = part.get("points", 0.0) if isinstance(part, dict) else 0.0
                priority.append(f"  {name} {float(points):.1f}")
        self.query_one("#item-priority", Static).update(priority)
        self.shown_item_id = item.id
        self.scroll_home(animate=False)
