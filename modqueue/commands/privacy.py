"""`modqueue erase`: a data-subject request, and `modqueue retention`: apply `[retention]`
now (what the `retention` job of `serve` does)."""

from __future__ import annotations

from typing import Annotated

import typer

from modqueue._exceptions import ConfigError
from modqueue.commands._common import Invocation, uses
from modqueue.queue import Permission, RetentionReport, apply_retention, erase_person

SHARED = ("reviewer", "token", "db", "config", "as_json")


@uses(*SHARED)
def erase(
    cli: Invocation,
    reporter: Annotated[
        str | None,
        typer.Option("--reporter", help="The reporter's id or contact.", show_default=False),
    ] = None,
    author: Annotated[
        str | None,
        typer.Option("--author", help="The author's account id or handle.", show_default=False),
    ] = None,
) -> None:
    """Erase one person's personal data everywhere modqueue stores it (admins only).

    `--reporter`: their reporter data on every item they reported. `--author`: their
    account id, handle and the content of every item of theirs. Decisions and audit
    events stay, without the person's data; `audit verify` still passes."""
    if (reporter is None) == (author is None):
        raise ConfigError("pass exactly one of --reporter ID or --author ID")
    with cli.open_queue(guidelines=False) as queue:
        report = cli.run_as(
            queue,
            Permission.ERASE_PERSONAL_DATA,
            lambda s, actor: erase_person(
                s, reporter=reporter, author=author, actor=actor, now=queue.clock()
            ),
        )
    cli.say(
        report.to_dict(),
        f"erased the {report.subject}'s data from {len(report.items)} item(s) "
        f"and {report.audit_fields} audit field(s)",
    )


@uses(*SHARED)
def retention(cli: Invocation) -> None:
    """Apply `[retention]` now, in batches, until nothing is left to purge (admins)."""
    total = RetentionReport()
    with cli.open_queue(guidelines=False) as queue:
        while True:
            batch = cli.run_as(
                queue,
                Permission.ERASE_PERSONAL_DATA,
                lambda s, actor: apply_retention(
                    s, config=cli.config.retention, now=queue.clock(), actor=actor
                ),
            )
            total.add(batch)
            if not batch.more:
                break
    cli.say(
        total.to_dict(),
        f"purged reporter data of {total.reporters} item(s), content of {total.contents}, "
        f"{total.audit_fields} audit field(s), {total.export_keys} export key(s)",
    )
