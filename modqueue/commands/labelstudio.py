"""`modqueue labelstudio setup|push|pull`: the Label Studio round trip.

Once reviewers are registered, `setup` needs a verified lead or admin, and `push` and
`pull` a lead, an admin or a service identity (`--reviewer`, verified with `--token` or
the operating-system user)."""

from __future__ import annotations

from typing import Annotated

import typer

from modqueue.commands._common import Invocation, uses
from modqueue.integrations.labelstudio import (
    LabelStudioClient,
    LabelStudioConfig,
    LabelStudioConnection,
    pull,
    push,
    setup_project,
)
from modqueue.queue import Permission, ReviewQueue

app = typer.Typer(
    help="Send a share of the queue to Label Studio annotators and bring their labels back.",
    no_args_is_help=True,
)

PolicyOption = Annotated[
    str | None, typer.Option("--policy", help="Guideline (policy) id.", show_default=False)
]
SHARED = ("reviewer", "token", "db", "guidelines", "config", "as_json")


def _connect(
    cli: Invocation, permission: Permission
) -> tuple[ReviewQueue, LabelStudioClient, LabelStudioConfig]:
    """The queue, checked for `permission`, and a client for the configured server."""
    section = cli.config.labelstudio or LabelStudioConfig()
    queue = cli.open_queue()
    try:
        cli.authorized(queue, permission)
        return queue, LabelStudioClient(LabelStudioConnection.from_env(section)), section
    except BaseException:
        queue.close()
        raise


@app.command("setup")
@uses(*SHARED)
def setup(
    cli: Invocation,
    policy: Annotated[str, typer.Option("--policy", help="Guideline (policy) id.")],
    force: Annotated[
        bool, typer.Option("--force", help="Rewrite the config even if unchanged.")
    ] = False,
) -> None:
    """Create or update the Label Studio project of a guideline (annotations are kept)."""
    queue, client, section = _connect(cli, Permission.SETUP_LABELSTUDIO)
    with queue:
        result = setup_project(
            queue, client, policy=policy, force=force, prefix=section.project_prefix
        )
    if cli.show(result.to_dict()):
        return
    verb = "created" if result.created else "updated" if result.updated else "up to date"
    typer.echo(
        f"project {result.project_id} for {result.policy} {verb} "
        f"(guideline {result.guideline_version})"
    )


@app.command("push")
@uses(*SHARED)
def push_command(
    cli: Invocation,
    policy: PolicyOption = None,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="Send at most N items.", show_default=False)
    ] = None,
    strategy: Annotated[
        str,
        typer.Option(
            "--strategy",
            help="Which items first: priority (the queue's order), uncertainty (those the "
            "active model is least sure of) or random.",
        ),
    ] = "priority",
) -> None:
    """Lease pending items of the routed queues to Label Studio and import them as tasks."""
    queue, client, section = _connect(cli, Permission.SYNC_LABELSTUDIO)
    with queue:
        report = push(queue, client, section, policy=policy, limit=limit, strategy=strategy)
    if cli.show(report.to_dict()):
        return
    typer.echo(
        f"pushed {report.pushed} items in {report.batches} batches; "
        f"{report.reconciled} found from an earlier push; {report.withdrawn} withdrawn"
    )


@app.command("pull")
@uses(*SHARED)
def pull_command(cli: Invocation, policy: PolicyOption = None) -> None:
    """Turn new and updated Label Studio annotations into decisions (incremental)."""
    queue, client, _section = _connect(cli, Permission.SYNC_LABELSTUDIO)
    with queue:
        report = pull(queue, client, policy=policy)
    if cli.show(report.to_dict()):
        return
    again = f" ({report.retried} fetched again for refused annotations)" if report.retried else ""
    typer.echo(
        f"{report.tasks} tasks read{again}: {report.decided} decided, {report.stored} extra "
        f"annotations stored, {report.updated} updated, {report.returned} returned to the queue"
    )
    for problem in report.rejected:
        typer.echo(f"rejected: {problem}", err=True)
