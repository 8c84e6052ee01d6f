"""Quality commands: quality, appeal, appeals, gold, export, fill-splits.

Once reviewers are registered, every one of them acts as the verified `--reviewer` (token
or operating-system user) and the service checks its role: `export` needs the `ml` role
or a lead or admin; `--by` names the actor only in open mode, where nothing is
verified."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy import select
from sqlmodel import Session, col

from modqueue._exceptions import ConfigError, ModqueueError
from modqueue.commands._common import Invocation, fail, registrar, uses
from modqueue.config import parse_duration
from modqueue.integrations.export import FORMATS, export_dataset
from modqueue.quality import (
    add_gold,
    authorize_actor,
    list_appeals,
    list_gold,
    open_appeal,
    quality_report,
    remove_gold,
)
from modqueue.queue import Item, Permission, fill_content_splits, read_jsonl

gold_app = typer.Typer(help="Gold items: known answers mixed into the queues unannounced.")
SHARED = ("reviewer", "token", "db", "config", "as_json")
gold_command = registrar(gold_app, *SHARED)
ItemArg = Annotated[int, typer.Argument(metavar="ITEM_ID")]
ByOption = Annotated[
    str,
    typer.Option(
        "--by",
        help="Who is doing this, for the audit trail, in open mode only; once reviewers "
        "are registered pass --reviewer (and --token) instead.",
    ),
]


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


@uses(*SHARED)
def quality(
    cli: Invocation,
    aggregate_only: Annotated[
        bool,
        typer.Option(
            "--aggregate-only",
            help="Only figures across reviewers (no reviewer pairs, no gold): any reviewer.",
        ),
    ] = False,
) -> None:
    """Agreement (Krippendorff's alpha, pairwise) per policy and reviewer pair, second
    reviews, gold accuracy per reviewer and appeals. Per-reviewer figures are for leads
    and admins; anyone else asks for `--aggregate-only`."""
    report = cli.call(quality_report, aggregate_only=aggregate_only, read=True)
    if cli.show(report):
        return
    a = report["agreement"]
    typer.echo(
        f"agreement: alpha {_fmt(a['alpha'])} · pairwise {_fmt(a['pairwise'])} "
        f"over {a['units']} items with 2+ labels"
    )
    typer.echo(f"{'policy':<24}{'items':>7}{'alpha':>9}{'pairwise':>10}")
    for policy, p in report["policies"].items():
        typer.echo(f"{policy:<24}{p['units']:>7}{_fmt(p['alpha']):>9}{_fmt(p['pairwise']):>10}")
    if report.get("pairs"):
        typer.echo(f"{'reviewer pair':<40}{'items':>7}{'alpha':>9}{'pairwise':>10}")
    for pair in report.get("pairs", []):
        name = " & ".join(pair["reviewers"])
        typer.echo(
            f"{name:<40}{pair['units']:>7}{_fmt(pair['alpha']):>9}{_fmt(pair['pairwise']):>10}"
        )
    s = report["second_review"]
    typer.echo(
        f"second reviews: {s['waiting']} waiting · {s['agreed']} agreed · "
        f"{s['disagreed']} disagreed"
    )
    for name, g in report.get("gold", {}).items():
        typer.echo(f"gold {name}: {g['correct']}/{g['answered']} ({g['accuracy']:.1%})")
    ap = report["appeals"]
    typer.echo(
        f"appeals: {ap['open']} open · {ap['upheld']} upheld · {ap['overturned']} overturned"
    )


@uses(*SHARED)
def appeal(
    cli: Invocation,
    item_id: ItemArg,
    note: Annotated[str, typer.Option("--note", help="Why the decision is appealed.")],
    by: ByOption = "appeals",
) -> None:
    """Reopen a decided item in its senior queue for a senior other than the one who
    decided it (any registered reviewer)."""
    with cli.open_queue() as queue:
        actor = cli.actor_or(queue, by)
        opened = queue.run(
            lambda s: open_appeal(s, item_id=item_id, note=note, actor=actor, now=queue.clock())
        )
        target = queue.get_item(item_id).queue
    cli.say(
        opened.model_dump(mode="json"),
        f"appeal {opened.id}: item {item_id} ({opened.appealed_label}) is in {target}",
    )


@uses(*SHARED)
def appeals(
    cli: Invocation,
    status: Annotated[
        str | None, typer.Option("--status", help="open, upheld or overturned.")
    ] = None,
) -> None:
    """List appeals, newest first (leads and admins: each names the reviewer appealed)."""
    cli.listing(
        cli.call(list_appeals, status=status, read=True),
        lambda r: f"appeal {r.id}: item {r.item_id} {r.appealed_label} -> {r.status}",
    )


@gold_command("add")
def gold_add(
    cli: Invocation,
    item_id: ItemArg,
    label: Annotated[str, typer.Option("--label", help="The known correct label.")],
    note: Annotated[str, typer.Option("--note", help="Why this is the answer.")] = "",
    by: ByOption = "lead",
) -> None:
    """Mark an item as gold with its known label (leads and admins)."""
    gold = cli.call(
        add_gold, by=by, guidelines_as="guidelines", item_id=item_id, label=label, note=note
    )
    cli.say(gold.model_dump(mode="json"), f"item {gold.item_id} is gold: {gold.label}")


@gold_command("remove")
def gold_remove(cli: Invocation, item_id: ItemArg, by: ByOption = "lead") -> None:
    """Unmark a gold item (leads and admins)."""
    cli.call(remove_gold, by=by, item_id=item_id)
    cli.say({"item_id": item_id, "gold": False}, f"item {item_id} is no longer gold")


@gold_command("list")
def gold_list(cli: Invocation) -> None:
    """List gold items and their labels (leads and admins)."""
    cli.listing(cli.call(list_gold, read=True), lambda r: f"item {r.item_id}: {r.label}")


@gold_command("ingest")
def gold_ingest(
    cli: Invocation,
    file: Annotated[Path, typer.Argument(help="JSON Lines: ingest items with a gold_label.")],
    by: ByOption = "lead",
) -> None:
    """Ingest items in the ingest format, each with a `gold_label` key, and mark them
    gold: they enter their queues like any other item. Bad lines are printed as
    `line N: reason` (exit 2); good ones are kept. Leads and admins; the actor is
    checked before anything is stored."""
    if not file.is_file():
        raise fail(f"{file}: no such file")
    problems: list[tuple[int, str]] = []
    marked = 0
    with cli.open_queue() as queue, file.open("rb") as stream:
        named = cli.actor_or(queue, by)
        actor = queue.run(
            lambda s: authorize_actor(
                s,
                actor=named,
                permission=Permission.MANAGE_GOLD,
                doing="managing or listing gold items",
                now=queue.clock(),
            )
        )
        for parsed in read_jsonl(stream):
            if parsed.error is not None:
                problems.append((parsed.line, parsed.error))
                continue
            value: Any = parsed.value
            label = value.get("gold_label") if isinstance(value, dict) else None
            if not isinstance(label, str) or not label:
                problems.append((parsed.line, "gold_label: missing or not a string"))
                continue
            report = queue.enqueue([value], actor=actor, positions=[parsed.line])
            if report.rejected:
                problems.extend((r.position, r.reason) for r in report.rejected)
                continue

            def mark(s: Any, v: dict[str, Any] = value, lab: str = label) -> None:
                item_id = s.scalar(
                    select(col(Item.id)).where(
                        col(Item.source) == v["source"], col(Item.external_id) == v["external_id"]
                    )
                )
                add_gold(
                    s,
                    item_id=item_id,
                    label=lab,
                    actor=actor,
                    guidelines=queue.guidelines,
                    now=queue.clock(),
                )

            try:
                queue.run(mark)
            except ModqueueError as exc:
                problems.append((parsed.line, f"gold_label: {exc}"))
                continue
            marked += 1
    for line, reason in problems:
        typer.echo(f"line {line}: {reason}", err=True)
    if not cli.show({"gold": marked, "rejected": [{"line": n, "reason": r} for n, r in problems]}):
        typer.echo(f"{marked} gold items; {len(problems)} rejected")
    if problems:
        raise typer.Exit(2)


def parse_since(value: str, now: datetime) -> datetime:
    """`--since`: an ISO 8601 date or time (UTC when no zone is given) or a duration
    back from now (`7d`, `12h`)."""
    text = value.strip()
    try:
        return now - _duration(text)
    except ValueError:
        pass
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(
            f"--since: {value!r} is neither an ISO 8601 time (2026-11-24T08:00:00Z) "
            "nor a duration (7d, 12h)"
        ) from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _duration(text: str) -> timedelta:
    if not text or not text[-1].isalpha():
        raise ValueError(text)
    return timedelta(seconds=parse_duration(text))


@uses(*SHARED)
def export(
    cli: Invocation,
    out: Annotated[Path, typer.Option("--out", help="Folder to write the dataset into.")],
    fmt: Annotated[str, typer.Option("--format", help="jsonl or parquet.")] = "jsonl",
    policy: Annotated[str | None, typer.Option("--policy", help="Only this policy.")] = None,
    since: Annotated[
        str | None,
        typer.Option("--since", help="Only items changed after this time (ISO 8601, or 7d)."),
    ] = None,
    cursor: Annotated[
        str | None,
        typer.Option("--cursor", help="Named cursor: export what changed since its last run."),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            help="JSON Lines on PostgreSQL: build the records in N processes (free cores).",
        ),
    ] = 1,
) -> None:
    """Write decided items as train/validation/test splits plus a dataset card (the
    `ml` role, leads and admins, once reviewers are registered)."""
    if fmt not in FORMATS:
        raise fail(f"--format: unknown format {fmt!r} (use {' or '.join(FORMATS)})")
    with cli.open_queue() as queue:
        cli.authorized(queue, Permission.EXPORT)
        now = queue.clock()
        if policy is not None and policy not in queue.guidelines:
            raise fail(
                f"--policy: unknown policy {policy!r} (known: {', '.join(queue.guidelines.ids)})"
            )
        window = parse_since(since, now) if since else None
        report = export_dataset(
            queue.engine,
            out=out,
            now=now,
            fmt=fmt,
            policy=policy,
            since=window,
            cursor=cursor,
            read_engine=queue.read_engine,
            workers=workers,
        )
    if cli.show(report.to_dict()):
        return
    splits = report.stats["splits"]
    typer.echo(
        f"{report.records} records to {out} ({fmt}): "
        + ", ".join(f"{k} {v}" for k, v in splits.items())
    )
    typer.echo(json.dumps(report.stats["agreement"]))


def _fill_batch(s: Session, _actor: str, *, after: int, batch: int) -> tuple[int, int | None]:
    return fill_content_splits(s, after=after, batch=batch)


@uses(*SHARED)
def fill_splits(
    cli: Invocation,
    batch: Annotated[int, typer.Option("--batch", min=1, help="Items per transaction.")] = 5000,
) -> None:
    """Store the split of every item that has none yet (`item.content_split`, which
    `export` reads instead of computing it), one transaction per batch (the `ml` role,
    leads and admins). Items stored before migration 0028, or whose content changed,
    have none; the export computes theirs meanwhile."""
    filled, last = 0, 0
    with cli.open_queue(guidelines=False) as queue:
        while True:
            fill = partial(_fill_batch, after=last, batch=batch)
            done, found = cli.run_as(queue, Permission.EXPORT, fill)
            filled += done
            if found is None:
                break
            last = found
    if cli.show({"filled": filled}):
        return
    typer.echo(f"stored the split of {filled} item(s)")
