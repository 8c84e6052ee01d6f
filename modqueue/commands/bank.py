"""`modqueue bank fill | export | import`: the known-content bank (fingerprints of
confirmed removals), in the plain JSON Lines format of docs/clusters.md."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from modqueue.commands._common import Invocation, fail, uses
from modqueue.queue import (
    BankImportReport,
    Permission,
    bank_lines,
    fill_bank,
    import_bank_lines,
)

app = typer.Typer(
    help="The known-content bank: fingerprints of confirmed removals, shareable.",
    no_args_is_help=True,
)

_BATCH = 1000


@app.command("fill")
@uses("reviewer", "token", "db", "guidelines", "config", "as_json")
def fill(cli: Invocation) -> None:
    """Add the fingerprints of standing removals to the bank and drop those of removals
    undone or reversed (`modqueue serve` does this every few minutes)."""
    with cli.open_queue() as queue:
        added, dropped = cli.run_as(
            queue, Permission.INGEST, lambda s, _actor: fill_bank(s, now=queue.clock())
        )
    cli.say({"added": added, "dropped": dropped}, f"bank: {added} added, {dropped} dropped")


@app.command("export")
@uses("reviewer", "token", "db", "guidelines", "config", "as_json")
def export(
    cli: Invocation,
    out: Annotated[
        str, typer.Option("--out", "-o", metavar="FILE|-", help="Where to write (- for stdout).")
    ] = "-",
) -> None:
    """Write every bank entry as JSON Lines (PDQ hashes and text MinHash signatures, with
    their policy and label); the bank is filled first."""
    with cli.open_queue() as queue:
        cli.run_as(queue, Permission.EXPORT, lambda s, _actor: fill_bank(s, now=queue.clock()))
        lines = queue.read(lambda s: [json.dumps(line) for line in bank_lines(s)])
    if out == "-":
        for line in lines:
            typer.echo(line)
        return
    Path(out).write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    typer.echo(f"{len(lines)} bank entries written to {out}", err=True)


@app.command("import")
@uses("reviewer", "token", "db", "guidelines", "config", "as_json")
def import_(
    cli: Invocation,
    file: Annotated[str, typer.Argument(metavar="FILE|-", help="JSON Lines file, or - for stdin.")],
) -> None:
    """Add bank entries from JSON Lines; a bad line is printed as `line N: reason` (exit
    code 2) and the good ones are kept (stored in batches as they are read)."""
    if file != "-" and not Path(file).is_file():
        raise fail(f"{file}: no such file", code=1)
    report = BankImportReport()
    with cli.open_queue() as queue:
        cli.authorized(queue, Permission.INGEST)
        stream = sys.stdin if file == "-" else Path(file).open(encoding="utf-8")  # noqa: SIM115
        try:
            batch: list[tuple[int, str]] = []

            def flush() -> None:
                chunk = list(batch)
                batch.clear()
                queue.run(
                    lambda s: import_bank_lines(
                        s, chunk, guidelines=queue.guidelines, report=report, now=queue.clock()
                    )
                )

            for number, text in enumerate(stream, start=1):
                batch.append((number, text))
                if len(batch) >= _BATCH:
                    flush()
            flush()
        finally:
            if stream is not sys.stdin:
                stream.close()
    for number, reason in report.rejected:
        typer.echo(f"line {number}: {reason}", err=True)
    cli.say(
        report.to_dict(),
        f"bank: {report.added} added, {report.duplicates} already there, "
        f"{len(report.rejected)} rejected",
    )
    if report.rejected:
        raise typer.Exit(2)
