"""The cluster card: the item on screen is one of many copies, shown as one card.

It says how many members the cluster has, its summed reach and reports, its authors, its
priority (the strongest member's plus a size bonus) and, for each variant, the words
that differ from the representative's (`modqueue.queue.variant_diff`): words only the
variant has are highlighted, words it lacks are struck through. Member text is
untrusted: it is shown literally. Hidden while the item is in no cluster of two or more.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from modqueue.queue import ClusterMember, ClusterView, cluster_priority, variant_diff
from modqueue.tui.components.literal import literal

__all__ = ["ClusterCard", "render_cluster", "render_variant"]

ADDED = "bold black on yellow"
REMOVED = "strike dim red"
SHOWN_VARIANTS = 8


def render_variant(representative: str | None, member: ClusterMember) -> Text:
    """One variant as a line: its id and author, then its words with the changes
    against `representative` highlighted."""
    line = Text()
    line.append(f"#{member.item_id} ", style="bold")
    line.append(literal(member.author_handle or "?", style="dim"))
    line.append(f" {member.status} ", style="dim")
    diff = variant_diff(representative, member.text)
    if diff.identical:
        line.append(" same words as the representative", style="italic dim")
        return line
    for part in diff.parts:
        line.append(" ")
        style = ADDED if part.kind == "added" else REMOVED if part.kind == "removed" else ""
        line.append(literal(part.text, style=style))
    return line


def render_cluster(
    view: ClusterView, *, key: str = "C", excluded: frozenset[int] = frozenset()
) -> Text:
    """The whole card as text; `key` is the key that decides the cluster."""
    summary = view.summary
    strongest = max((m.priority for m in view.members if m.status == "pending"), default=None)
    if strongest is None:
        strongest = max((m.priority for m in view.members), default=0.0)
    bonus = cluster_priority(strongest, summary.members) - strongest
    text = Text()
    text.append(f"cluster {summary.id}", style="bold")
    text.append(f" · {summary.members:,} copies ({summary.open:,} open)")
    text.append(f" · reach {summary.reach:,} views · reports {summary.reports:,}")
    text.append(f"\npriority {summary.priority:.1f}", style="bold")
    text.append(f" = strongest member {strongest:.1f} + size {bonus:.1f}", style="dim")
    text.append(f"\nauthors ({len(view.authors)}): ")
    for n, author in enumerate(view.authors[:12]):
        if n:
            text.append(", ")
        text.append(literal(author))
    if len(view.authors) > 12:
        text.append(f", … {len(view.authors) - 12} more", style="dim")
    representative = view.members[0] if view.members else None
    if representative is not None:
        text.append(f"\nrepresentative #{representative.item_id}: ", style="bold")
        text.append(literal((representative.text or "")[:160]))
    variants = [m for m in view.members[1:] if m.item_id not in excluded]
    if variants:
        text.append("\nvariants (", style="bold")
        text.append("new words", style=ADDED)
        text.append(" / ", style="bold")
        text.append("missing words", style=REMOVED)
        text.append("):", style="bold")
    for member in variants[:SHOWN_VARIANTS]:
        text.append("\n")
        text.append(render_variant(representative.text if representative else None, member))
    if len(variants) > SHOWN_VARIANTS:
        text.append(f"\n… {len(variants) - SHOWN_VARIANTS:,} more variants", style="dim")
    if excluded:
        text.append(f"\nexcluded from the cluster decision: {len(excluded)}", style="italic")
    text.append(f"\npress {key} to decide the whole cluster (with a preview)", style="italic")
    return text


class ClusterCard(VerticalScroll):
    """The cluster of the item on screen, as one card (hidden when there is none)."""

    DEFAULT_CLASSES = "-empty"

    def compose(self) -> ComposeResult:
        yield Static(id="cluster-body")

    def show_cluster(self, view: ClusterView | None, *, key: str = "C") -> None:
        """Show `view`, or hide the card when it is None or has a single member; `key`
        is the key that decides the cluster."""
        self.view = view
        if view is None or view.summary.members < 2:
            self.add_class("-empty")
            self.query_one("#cluster-body", Static).update("")
            return
        self.remove_class("-empty")
        self.border_title = f"cluster of {view.summary.members:,}"
        self.query_one("#cluster-body", Static).update(render_cluster(view, key=key))

    view: ClusterView | None = None
