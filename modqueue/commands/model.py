"""`modqueue model train|list|show|activate|retire|score`: the model loop."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from modqueue._exceptions import ModelError
from modqueue.commands._common import Invocation, fail, registrar
from modqueue.learning import (
    ModelVersion,
    activate_model,
    get_model,
    guideline_warning,
    list_models,
    prescore_pending,
    read_card,
    retire_model,
    signal_name,
    train_policy,
)
from modqueue.queue import UNIDENTIFIED, Permission

app = typer.Typer(
    help="Train models on final human decisions, and choose which one scores new items.",
    no_args_is_help=True,
)
PolicyArg = Annotated[str, typer.Argument(metavar="POLICY", help="Guideline (policy) id.")]
VersionArg = Annotated[str, typer.Argument(metavar="VERSION", help="Model version, e.g. v3.")]
# Every model command verifies who acts; training, activating and retiring need a lead
# (`manage_models`), reading the registry needs the lead dashboard's permission.
command = registrar(app, "reviewer", "token", "db", "guidelines", "config", "as_json")


def _actor(name: str) -> str:
    return "cli" if name == UNIDENTIFIED else name


def _row(row: ModelVersion) -> dict[str, Any]:
    test = row.metrics.get("test", {})
    op = row.metrics.get("operating_point", {})
    return {
        "policy": row.policy,
        "version": row.version,
        "signal": signal_name(row.policy, row.version),
        "state": row.state,
        "path": row.path,
        "created_at": row.created_at.isoformat(),
        "decisions": row.metrics.get("decisions"),
        "precision": test.get("precision"),
        "recall": test.get("recall"),
        "f1": test.get("f1"),
        "pr_auc": test.get("pr_auc"),
        "threshold": op.get("threshold"),
        "target_precision": op.get("target_precision"),
        "drift": row.drift,
    }


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{float(value):.3f}"


@command("train")
def train(
    cli: Invocation,
    policy: Annotated[
        str | None,
        typer.Option(
            "--policy", help="Train this policy only (default: every policy).", show_default=False
        ),
    ] = None,
) -> None:
    """Train a model per policy from final human decisions; each is saved with its card
    and registered as a candidate. Without --policy, policies with too few decisions are
    skipped with the reason."""
    cfg = cli.config.models
    trained: list[dict[str, Any]] = []
    skipped: dict[str, str] = {}
    with cli.open_queue() as queue:
        actor = _actor(cli.authorized(queue, Permission.MANAGE_MODELS))
        policies = [policy] if policy else list(queue.guidelines.ids)
        for name in policies:
            try:
                row = train_policy(queue, policy=name, config=cfg, actor=actor)
            except ModelError as exc:
                if policy:
                    raise
                skipped[name] = str(exc)
                continue
            trained.append(_row(row))
    if cli.show({"trained": trained, "skipped": skipped}):
        return
    for t in trained:
        typer.echo(
            f"{t['policy']} {t['version']}: {t['decisions']} decisions; test precision "
            f"{_fmt(t['precision'])}, recall {_fmt(t['recall'])}, PR-AUC {_fmt(t['pr_auc'])}; "
            f"card in {t['path']}/card.md (candidate: `modqueue model activate "
            f"{t['policy']} {t['version']}`)"
        )
    for name, reason in skipped.items():
        typer.echo(f"skipped {name}: {reason}", err=True)
    if not trained:
        raise fail("no model trained", code=1)


@command("list")
def list_command(
    cli: Invocation,
    policy: Annotated[str | None, typer.Option("--policy", help="Only this policy.")] = None,
) -> None:
    """Every registered model with its state and test figures (leads and admins)."""
    with cli.open_queue() as queue:
        found = cli.run_as(
            queue,
            Permission.VIEW_DASHBOARD,
            lambda s, _actor: list_models(s, policy=policy),
            read=True,
        )
    rows = [_row(r) for r in found]
    if cli.show(rows):
        return
    if not rows:
        typer.echo("no models (train one with `modqueue model train`)")
        return
    typer.echo(
        f"{'policy':<22}{'version':<9}{'state':<11}{'precision':>10}{'recall':>8}{'PR-AUC':>8}"
    )
    for r in rows:
        flag = "  DRIFT" if (r["drift"] or {}).get("drifted") else ""
        typer.echo(
            f"{r['policy']:<22}{r['version']:<9}{r['state']:<11}{_fmt(r['precision']):>10}"
            f"{_fmt(r['recall']):>8}{_fmt(r['pr_auc']):>8}{flag}"
        )


@command("show")
def show(
    cli: Invocation,
    policy: PolicyArg,
    version: Annotated[
        str | None, typer.Argument(metavar="[VERSION]", help="Default: the active one.")
    ] = None,
) -> None:
    """One model: its card figures, drift check and warnings (leads and admins)."""
    with cli.open_queue() as queue:
        row = cli.run_as(
            queue,
            Permission.VIEW_DASHBOARD,
            lambda s, _actor: get_model(s, policy=policy, version=version),
            read=True,
        )
        warning = guideline_warning(row, queue.guidelines)
    card = read_card(Path(row.path))
    if cli.show({**_row(row), "card": card, "warnings": [warning] if warning else []}):
        return
    if warning:
        typer.echo(f"warning: {warning}", err=True)
    r = _row(row)
    typer.echo(f"{policy} {row.version} ({row.state}) · signal {r['signal']}")
    typer.echo(f"trained {r['created_at']} on {r['decisions']} final human decisions")
    typer.echo(
        f"test: precision {_fmt(r['precision'])} · recall {_fmt(r['recall'])} · "
        f"F1 {_fmt(r['f1'])} · PR-AUC {_fmt(r['pr_auc'])}"
    )
    if r["threshold"] is None:
        typer.echo(f"no threshold reaches precision {r['target_precision']}")
    else:
        typer.echo(f"threshold for precision {r['target_precision']}: {r['threshold']:.4f}")
    drift = row.drift
    if drift:
        state = "DRIFTED" if drift.get("drifted") else "ok"
        typer.echo(
            f"drift ({state}): precision {_fmt(drift.get('recent_precision'))} on "
            f"{drift.get('decisions')} recent decisions vs {_fmt(drift.get('test_precision'))} "
            f"on test (margin {drift.get('margin')}, checked {drift.get('checked_at')})"
        )
        if drift.get("drifted"):
            typer.echo(f"warning: model {policy} {row.version} has drifted: retrain it", err=True)
    typer.echo(f"card: {row.path}/card.md")


def _change(cli: Invocation, what: str, policy: str, version: str) -> None:
    fn = activate_model if what == "activate" else retire_model
    with cli.open_queue() as queue:
        row = cli.run_as(
            queue,
            Permission.MANAGE_MODELS,
            lambda s, actor: fn(
                s, policy=policy, version=version, actor=_actor(actor), now=queue.clock()
            ),
        )
        warning = guideline_warning(row, queue.guidelines)
    if warning and what == "activate":
        typer.echo(f"warning: {warning}", err=True)
    typer.echo(f"{policy} {version}: {row.state}")


@command("activate")
def activate(cli: Invocation, policy: PolicyArg, version: VersionArg) -> None:
    """Make VERSION the model that scores POLICY's new items (the previous one goes back
    to candidate)."""
    _change(cli, "activate", policy, version)


@command("retire")
def retire(cli: Invocation, policy: PolicyArg, version: VersionArg) -> None:
    """Retire VERSION: it stops scoring and cannot be activated again."""
    _change(cli, "retire", policy, version)


@command("score")
def score(cli: Invocation) -> None:
    """Score the pending items that arrived since the last run with the active models
    (what `modqueue serve` does on its `model-score` job; leads and admins)."""
    with cli.open_queue() as queue:
        cli.authorized(queue, Permission.MANAGE_MODELS)
        report = prescore_pending(queue, config=cli.config.models)
    if cli.show(report.to_dict()):
        return
    for w in report.warnings:
        typer.echo(f"warning: {w}", err=True)
    typer.echo(
        ", ".join(
            f"{name}: {n} scored, {report.suggested[name]} suggested, "
            f"{report.low[name]} to the low lane"
            for name, n in report.scored.items()
        )
        or "no active model"
    )
