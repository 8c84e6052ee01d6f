"""`modqueue clusters`: copies of one piece of content, decided once for all of them.

`list` and `show` read; `decide` applies one label to every open member (each gets its
own decision, action and audit event); `undo` takes a cluster decision back within the
undo grace period; `reverse` (a senior) queues the reverse actions afterwards; `split`
takes one member out to be decided alone. Who may: see `ReviewQueue.decide_cluster`.
"""

from __future__ import annotations

from typing import Annotated

import typer

from modqueue._exceptions import ModqueueError
from modqueue.commands._common import Invocation, fail, uses
from modqueue.queue import ClusterView, Permission

app = typer.Typer(
    help="Clusters of copies: list, show, decide them at once, undo, reverse, split.",
    no_args_is_help=True,
)

ClusterArg = Annotated[int, typer.Argument(metavar="ID", help="The cluster's id.")]
DecisionArg = Annotated[
    int, typer.Argument(metavar="DECISION_ID", help="The cluster decision's id.")
]


def _cluster_error(cluster_id: int, exc: ModqueueError) -> typer.Exit:
    text = str(exc)
    return fail(
        text if text.startswith(f"cluster {cluster_id}") else f"cluster {cluster_id}: {text}"
    )


@app.command("list")
@uses("reviewer", "token", "db", "config", "as_json")
def list_(
    cli: Invocation,
    status: Annotated[
        str | None, typer.Option("--status", help="Only clusters in this status: open, decided.")
    ] = None,
    policy: Annotated[str | None, typer.Option("--policy", help="Only this policy.")] = None,
    min_members: Annotated[
        int, typer.Option("--min-members", min=1, help="Only clusters with at least N members.")
    ] = 2,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most N.")] = 50,
) -> None:
    """Clusters, highest priority first: members, open members, summed reach."""
    with cli.open_queue(guidelines=False) as queue:
        reviewer = cli.acting_reviewer(queue, Permission.VIEW_STATS)
        rows = queue.list_clusters(
            reviewer, status=status, policy=policy, min_members=min_members, limit=limit
        )
    if cli.show([r.to_dict() for r in rows]):
        return
    if not rows:
        typer.echo("no clusters")
        return
    typer.echo(
        f"{'id':>6}  {'status':<8} {'policy':<20} {'members':>7} {'open':>5} "
        f"{'reach':>10} {'priority':>8}"
    )
    for r in rows:
        typer.echo(
            f"{r.id:>6}  {r.status:<8} {(r.policy or '-'):<20} {r.members:>7} {r.open:>5} "
            f"{r.reach:>10} {r.priority:>8.1f}"
        )


def _print_view(view: ClusterView) -> None:
    s = view.summary
    typer.echo(
        f"cluster {s.id} ({s.policy or '-'}, {s.status}): {s.members} members, {s.open} open, "
        f"reach {s.reach}, reports {s.reports}, priority {s.priority:.1f}"
    )
    typer.echo(f"authors: {', '.join(view.authors) or '-'}")
    for m in view.members:
        mark = "*" if m.item_id == s.representative_item_id else " "
        text = (m.text or "").replace("\n", " ")[:60]
        typer.echo(
            f"{mark}{m.item_id:>6}  {m.status:<8} {(m.final_label or '-'):<24} "
            f"{m.views:>8}  {m.author_handle or '-'}  {text}"
        )
    for d in view.decisions:
        typer.echo(
            f"decision {d['id']}: {d['label']} by {d['reviewer']} ({d['status']}, "
            f"{d['members']} members, excluded {d['excluded'] or '-'})"
        )


@app.command("show")
@uses("reviewer", "token", "db", "config", "as_json")
def show(cli: Invocation, cluster_id: ClusterArg) -> None:
    """One cluster: members (representative first, marked *), authors, summed reach,
    priority and its decisions."""
    with cli.open_queue(guidelines=False) as queue:
        reviewer = cli.acting_reviewer(queue, Permission.VIEW_STATS)
        view = queue.show_cluster(cluster_id, reviewer)
    if not cli.show(view.to_dict()):
        _print_view(view)


@app.command("decide")
@uses("reviewer", "token", "db", "guidelines", "config", "as_json")
def decide(
    cli: Invocation,
    cluster_id: ClusterArg,
    label: Annotated[str, typer.Option("--label", help="Label id from the guideline.")],
    exclude: Annotated[
        list[int] | None,
        typer.Option("--exclude", metavar="ITEM", help="A member to leave out (repeatable)."),
    ] = None,
    note: Annotated[str, typer.Option("--note", help="Private note (never sent out).")] = "",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only show what the decision would do.")
    ] = False,
) -> None:
    """Decide every open member of a cluster with one label (each member gets its own
    decision, action and audit event); --exclude leaves members out."""
    with cli.open_queue() as queue:
        reviewer = cli.acting_reviewer(queue, Permission.DECIDE)
        try:
            preview = queue.preview_cluster(cluster_id, label, reviewer, exclude=exclude or [])
            if dry_run:
                if not cli.show(preview.to_dict()):
                    typer.echo(f"cluster {cluster_id}: would {preview.summary}")
                return
            made = queue.decide_cluster(
                cluster_id, reviewer, label, exclude=exclude or [], note=note, origin="cli"
            )
        except ModqueueError as exc:
            raise _cluster_error(cluster_id, exc) from None
    if not cli.show({**made.model_dump(mode="json"), "preview": preview.to_dict()}):
        typer.echo(
            f"cluster {cluster_id}: {made.label} ({made.action}) applied to {made.member_count} "
            f"item(s) by {reviewer}; cluster decision {made.id}"
            + (f"; {len(made.excluded)} excluded" if made.excluded else "")
            + (
                f"; item {made.detail['second_review'][0]} sent to second review"
                if made.detail.get("second_review")
                else ""
            )
        )


@app.command("undo")
@uses("reviewer", "token", "db", "guidelines", "config", "as_json")
def undo(cli: Invocation, decision_id: DecisionArg) -> None:
    """Undo your own cluster decision within the undo grace period, before any of its
    actions was sent: every member goes back to pending."""
    with cli.open_queue() as queue:
        reviewer = cli.acting_reviewer(queue, Permission.UNDO)
        back = queue.undo_cluster(decision_id, reviewer)
    if not cli.show({"cluster_decision_id": decision_id, "pending_again": back}):
        typer.echo(f"cluster decision {decision_id} undone: {len(back)} item(s) pending again")


@app.command("reverse")
@uses("reviewer", "token", "db", "guidelines", "config", "as_json")
def reverse(
    cli: Invocation,
    decision_id: DecisionArg,
    note: Annotated[str, typer.Option("--note", help="Why (audit trail only).")],
) -> None:
    """Reverse a cluster decision (seniors): unsent actions are cancelled, the reverse of
    sent ones queued; members go back to pending to be decided afresh."""
    if not note.strip():
        raise fail("a reversal needs --note saying why")
    with cli.open_queue() as queue:
        reviewer = cli.acting_reviewer(queue, Permission.DECIDE)
        back, reversals = queue.reverse_cluster(decision_id, reviewer, note)
    if not cli.show(
        {"cluster_decision_id": decision_id, "pending_again": back, "reversals": reversals}
    ):
        typer.echo(
            f"cluster decision {decision_id} reversed: {len(back)} item(s) pending again, "
            f"{len(reversals)} reverse action(s) queued"
        )


@app.command("split")
@uses("reviewer", "token", "db", "guidelines", "config", "as_json")
def split(
    cli: Invocation,
    item_id: Annotated[int, typer.Argument(metavar="ITEM", help="The member to take out.")],
) -> None:
    """Take an item out of its cluster, to be decided alone."""
    with cli.open_queue() as queue:
        reviewer = cli.acting_reviewer(queue, Permission.DECIDE)
        left = queue.split_from_cluster(item_id, reviewer)
    if not cli.show({"item_id": item_id, "left_cluster": left}):
        typer.echo(f"item {item_id} left cluster {left}")
