"""`modqueue model train|list|show|activate|retire|score`: the model loop."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from modqueue._exceptions import ModelError
from modqueue.commands._common import (
    ConfigOption,
    DbOption,
    GuidelinesOption,
    JsonOption,
    echo_json,
    fail,
    open_config,
    open_queue,
)
from modqueue.commands._identity import ActorOption, TokenOption, actor_or_by
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

app = typer.Typer(
    help="Train models on final human decisions, and choose which one scores new items.",
    no_args_is_help=True,
)
PolicyArg = Annotated[str, typer.Argument(metavar="POLICY", help="Guideline (policy) id.")]
VersionArg = Annotated[str, typer.Argument(metavar="VERSION", help="Model version, e.g. v3.")]


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


@app.command("train")
def train(
    policy: Annotated[
        str | None,
        typer.Option(
            "--policy", help="Train this policy only (default: every policy).", show_default=False
        ),
    ] = None,
    db: DbOption = None,
    guidelines: GuidelinesOption = None,
    config: ConfigOption = None,
    reviewer: ActorOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Train a model per policy from final human decisions; each is saved with its card
    and registered as a candidate. Without --policy, policies with too few decisions are
    skipped with the reason."""
    cfg = open_config(config).models
    trained: list[dict[str, Any]] = []
    skipped: dict[str, str] = {}
    with open_queue(db, guidelines) as queue:
        actor = actor_or_by(queue, reviewer, token, config, "cli") or ""
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
    if as_json:
        echo_json({"trained": trained, "skipped": skipped})
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


@app.command("list")
def list_command(
    policy: Annotated[str | None, typer.Option("--policy", help="Only this policy.")] = None,
    db: DbOption = None,
    guidelines: GuidelinesOption = None,
    as_json: JsonOption = False,
) -> None:
    """Every registered model with its state and test figures."""
    with open_queue(db, guidelines) as queue:
        rows = [_row(r) for r in queue.run(lambda s: list_models(s, policy=policy))]
    if as_json:
        echo_json(rows)
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


@app.command("show")
def show(
    policy: PolicyArg,
    version: Annotated[
        str | None, typer.Argument(metavar="[VERSION]", help="Default: the active one.")
    ] = None,
    db: DbOption = None,
    guidelines: GuidelinesOption = None,
    as_json: JsonOption = False,
) -> None:
    """One model: its card figures, drift check and warnings."""
    with open_queue(db, guidelines) as queue:
        row = queue.run(lambda s: get_model(s, policy=policy, version=version))
        warning = guideline_warning(row, queue.guidelines)
    card = read_card(Path(row.path))
    if as_json:
        echo_json({**_row(row), "card": card, "warnings": [warning] if warning else []})
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


def _change(
    what: str,
    policy: str,
    version: str,
    db: str | None,
    guidelines: Path | None,
    config: Path | None,
    reviewer: str | None,
    token: str | None,
) -> None:
    with open_queue(db, guidelines) as queue:
        actor = actor_or_by(queue, reviewer, token, config, "cli") or ""
        fn = activate_model if what == "activate" else retire_model
        row = queue.run(
            lambda s: fn(s, policy=policy, version=version, actor=actor, now=queue.clock())
        )
        warning = guideline_warning(row, queue.guidelines)
    if warning and what == "activate":
        typer.echo(f"warning: {warning}", err=True)
    typer.echo(f"{policy} {version}: {row.state}")


@app.command("activate")
def activate(
    policy: PolicyArg,
    version: VersionArg,
    db: DbOption = None,
    guidelines: GuidelinesOption = None,
    config: ConfigOption = None,
    reviewer: ActorOption = None,
    token: TokenOption = None,
) -> None:
    """Make VERSION the model that scores POLICY's new items (the previous one goes back
    to candidate)."""
    _change("activate", policy, version, db, guidelines, config, reviewer, token)


@app.command("retire")
def retire(
    policy: PolicyArg,
    version: VersionArg,
    db: DbOption = None,
    guidelines: GuidelinesOption = None,
    config: ConfigOption = None,
    reviewer: ActorOption = None,
    token: TokenOption = None,
) -> None:
    """Retire VERSION: it stops scoring and cannot be activated again."""
    _change("retire", policy, version, db, guidelines, config, reviewer, token)


@app.command("score")
def score(
    db: DbOption = None,
    guidelines: GuidelinesOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Score the pending items that arrived since the last run with the active models
    (what `modqueue serve` does on its `model-score` job)."""
    with open_queue(db, guidelines) as queue:
        report = prescore_pending(queue, config=open_config(config).models)
    if as_json:
        echo_json(report.to_dict())
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
