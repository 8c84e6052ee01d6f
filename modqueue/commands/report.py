"""`modqueue report`: referrals, statements of reasons and transparency reports.

Each command acts as the verified `--reviewer` (token or operating-system user) and needs
the `view_reports` permission (leads and admins); in open mode anyone may."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlmodel import Session

from modqueue.commands._common import Invocation, fail, registrar
from modqueue.reports import (
    OUTCOMES,
    ReferralFilter,
    iter_statements,
    parse_period,
    referral_report,
    transparency_data,
    write_report,
)

app = typer.Typer(help="Referral, statement-of-reasons and transparency reports.")
SHARED = ("reviewer", "token", "db", "config", "as_json")
command = registrar(app, *SHARED)


def parse_when(value: str | None, option: str) -> datetime | None:
    """An ISO date (`2026-07-01`) or date-time (`2026-07-01T12:00:00Z`, UTC unless it
    says otherwise) given to `option`; a clear error otherwise."""
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise fail(
            f"{option} {value!r} is not a date: use YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ"
        ) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _fmt_hours(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}h"


_HEADERS = {
    "referred": "referred",
    "removed": "removed",
    "declined": "declined",
    "left_up": "left up",
    "in_queue": "in queue",
    "awaiting_platform": "awaiting",
    "not_sent": "not sent",
}


def _print_referrals(report: dict[str, Any], *, listing: bool) -> None:
    head = f"{'source':<22}{'policy':<20}" + "".join(f"{h:>10}" for h in _HEADERS.values())
    typer.echo(head + f"{'median':>9}{'p90':>9}")
    lines = [*report["rows"], {"source": "total", "policy": "", **report["totals"]}]
    for row in lines:
        numbers = "".join(f"{row[key]:>10}" for key in _HEADERS)
        typer.echo(
            f"{row['source']:<22}{row['policy']:<20}{numbers}"
            f"{_fmt_hours(row['median_hours_to_removal']):>9}"
            f"{_fmt_hours(row['p90_hours_to_removal']):>9}"
        )
    if listing:
        for key, outcomes in report.get("items", {}).items():
            for outcome in OUTCOMES:
                ids = outcomes.get(outcome)
                if ids:
                    typer.echo(f"{key} {outcome}: {' '.join(str(i) for i in ids)}")


@command("referrals")
def referrals(
    cli: Invocation,
    source: Annotated[
        str | None,
        typer.Option("--source", help="Only this source (default: every trusted-flagger source)."),
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Flagged at or after (YYYY-MM-DD).")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Flagged before (YYYY-MM-DD).")
    ] = None,
    listing: Annotated[
        bool, typer.Option("--list", help="Also list the item ids behind every number.")
    ] = False,
) -> None:
    """What became of each source's referrals, per policy: removed, declined, left up,
    in the queue, awaiting the platform; median and p90 time from flag to removal."""
    where = ReferralFilter(
        source=source, since=parse_when(since, "--since"), until=parse_when(until, "--until")
    )
    report = cli.call(referral_report, where=where, with_items=listing, read=True)
    if not cli.show(report):
        _print_referrals(report, listing=listing)


@command("statements")
def statements(
    cli: Invocation,
    since: Annotated[str, typer.Option("--since", help="Decided at or after (YYYY-MM-DD).")],
    out: Annotated[Path, typer.Option("--out", help="The JSON Lines file to write.")],
    until: Annotated[
        str | None, typer.Option("--until", help="Decided before (YYYY-MM-DD).")
    ] = None,
) -> None:
    """One statement of reasons (EU DSA Art. 17) per restrictive decision, in the shape
    of the DSA Transparency Database's statement API, one JSON object per line. The
    file is written whole or not at all."""
    start = parse_when(since, "--since")
    end = parse_when(until, "--until")
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial")
    count = 0
    with cli.open_queue() as queue:
        actor = cli.actor(queue)

        def work(session: Session) -> int:
            written = 0
            with partial.open("w", encoding="utf-8") as stream:
                for statement in iter_statements(
                    session,
                    actor=actor,
                    now=queue.clock(),
                    guidelines=queue.guidelines,
                    config=cli.config.reports,
                    since=start,
                    until=end,
                ):
                    stream.write(json.dumps(statement, ensure_ascii=False, sort_keys=True))
                    stream.write("\n")
                    written += 1
            return written

        try:
            count = queue.read(work)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    partial.replace(out)
    cli.say({"statements": count, "out": str(out)}, f"{count} statements of reasons in {out}")


@command("transparency")
def transparency(
    cli: Invocation,
    period: Annotated[
        str,
        typer.Option(
            "--period", help="2026 (a year), 2026-H2 (half), 2026-Q3 (quarter) or 2026-07."
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Folder for report.md/.json/.html.")],
) -> None:
    """A transparency report for a period: notices, actions, time to action, automated
    and human decisions, appeals, second-review agreement and deadline breaches, as
    report.json, report.md and a self-contained report.html with charts."""
    chosen = parse_period(period)
    data = cli.call(transparency_data, period=chosen, read=True)
    written = write_report(data, out)
    cli.say(
        {"period": chosen.name, "files": [str(p) for p in written]},
        f"transparency report {chosen.name}: " + ", ".join(str(p) for p in written),
    )
