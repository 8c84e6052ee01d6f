"""`modqueue labelstudio setup|push|pull`: the Label Studio round trip."""

from __future__ import annotations

from typing import Annotated

import typer

from modqueue.commands._common import (
    ConfigOption,
    DbOption,
    GuidelinesOption,
    JsonOption,
    echo_json,
    open_config,
    open_queue,
)
from modqueue.integrations.labelstudio import (
    LabelStudioClient,
    LabelStudioConfig,
    LabelStudioConnection,
    pull,
    push,
    setup_project,
)

app = typer.Typer(
    help="Send a share of the queue to Label Studio annotators and bring their labels back.",
    no_args_is_help=True,
)

PolicyOption = Annotated[
    str | None, typer.Option("--policy", help="Guideline (policy) id.", show_default=False)
]


def _section(config: ConfigOption) -> LabelStudioConfig:
    return open_config(config).labelstudio or LabelStudioConfig()


@app.command("setup")
def setup(
    policy: Annotated[str, typer.Option("--policy", help="Guideline (policy) id.")],
    force: Annotated[
        bool, typer.Option("--force", help="Rewrite the config even if unchanged.")
    ] = False,
    db: DbOption = None,
    guidelines: GuidelinesOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create or update the Label Studio project of a guideline (annotations are kept)."""
    section = _section(config)
    client = LabelStudioClient(LabelStudioConnection.from_env(section))
    with open_queue(db, guidelines) as queue:
        result = setup_project(
            queue, client, policy=policy, force=force, prefix=section.project_prefix
        )
    if as_json:
        echo_json(result.to_dict())
        return
    verb = "created" if result.created else "updated" if result.updated else "up to date"
    typer.echo(
        f"project {result.project_id} for {result.policy} {verb} "
        f"(guideline {result.guideline_version})"
    )


@app.command("push")
def push_command(
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
    db: DbOption = None,
    guidelines: GuidelinesOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Lease pending items of the routed queues to Label Studio and import them as tasks."""
    section = _section(config)
    client = LabelStudioClient(LabelStudioConnection.from_env(section))
    with open_queue(db, guidelines) as queue:
        report = push(queue, client, section, policy=policy, limit=limit, strategy=strategy)
    if as_json:
        echo_json(report.to_dict())
        return
    typer.echo(
        f"pushed {report.pushed} items in {report.batches} batches; "
        f"{report.reconciled} found from an earlier push; {report.withdrawn} withdrawn"
    )


@app.command("pull")
def pull_command(
    policy: PolicyOption = None,
    db: DbOption = None,
    guidelines: GuidelinesOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Turn new and updated Label Studio annotations into decisions (incremental)."""
    section = _section(config)
    client = LabelStudioClient(LabelStudioConnection.from_env(section))
    with open_queue(db, guidelines, config=open_config(config)) as queue:
        report = pull(queue, client, policy=policy)
    if as_json:
        echo_json(report.to_dict())
        return
    again = f" ({report.retried} fetched again for refused annotations)" if report.retried else ""
    typer.echo(
        f"{report.tasks} tasks read{again}: {report.decided} decided, {report.stored} extra "
        f"annotations stored, {report.updated} updated, {report.returned} returned to the queue"
    )
    for problem in report.rejected:
        typer.echo(f"rejected: {problem}", err=True)
