"""`modqueue serve` (the scheduler process) and `modqueue config check`.

Once reviewers are registered, `serve` runs as a verified service identity (`--service
NAME`, a reviewer added with `--role service`, verified with `--token` or the
operating-system user); every audit event its jobs write names it (`detail.service`)."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer

from modqueue._exceptions import ConfigError
from modqueue.commands._common import Invocation, fail, uses
from modqueue.config import FeedSourceConfig, FolderSourceConfig, ModqueueConfig, load_config
from modqueue.logs import add_secret, configure_logging
from modqueue.queue import UNIDENTIFIED, Permission
from modqueue.scheduler import JobContext, JobSpec, Scheduler, default_jobs, run_once

__all__ = ["config_app", "serve"]

config_app = typer.Typer(help="Check the TOML configuration.", no_args_is_help=True)


def register_secrets(config: ModqueueConfig, environ: dict[str, str] | None = None) -> None:
    """Register every secret the configuration points at so logs redact it."""
    env = environ if environ is not None else dict(os.environ)
    for source in config.sources.values():
        if isinstance(source, FeedSourceConfig) and source.token_env:
            add_secret(env.get(source.token_env))
    for platform in config.platforms.values():
        add_secret(env.get(platform.secret_env))


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@uses("service", "token", "db", "guidelines", "config")
def serve(
    cli: Invocation,
    once: Annotated[bool, typer.Option("--once", help="Run every job once, then exit.")] = False,
    log_json: Annotated[
        bool, typer.Option("--log-json", help="Log one JSON object per line.")
    ] = False,
    log_level: Annotated[
        str, typer.Option("--log-level", help="debug, info, warning or error.")
    ] = "info",
    workers: Annotated[int, typer.Option("--workers", min=1, help="Jobs run at once.")] = 4,
) -> None:
    """Run the scheduler: sources, leases, deadlines and every other job, each on its
    interval. SIGTERM (or Ctrl-C) lets the running jobs finish, then exits. With
    `--once` every job runs once and the exit code is 1 if any failed."""
    if log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise fail(f"--log-level: unknown level {log_level!r} (debug, info, warning, error)")
    configure_logging(json_lines=log_json, level=log_level)
    cfg = cli.config
    register_secrets(cfg)
    queue = cli.open_queue()
    try:
        service = cli.authorized(queue, Permission.RUN_SERVICE)
    except BaseException:
        queue.close()
        raise
    queue.service = None if service == UNIDENTIFIED else service
    stop = threading.Event()
    ctx = JobContext(queue, cfg, stop=stop)
    jobs = default_jobs(cfg)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        ctx.log.info("received %s: finishing running jobs", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    ctx.log.info(
        "serve: %d job(s) on %s%s",
        len(jobs),
        _safe_url(queue.database_url),
        " (once)" if once else "",
        extra={"jobs": [j.name for j in jobs]},
    )
    try:
        if once:
            results = run_once(jobs, ctx)
            failed = [r.name for r in results if not r.ok]
            if failed:
                raise typer.Exit(1)
        else:
            Scheduler(jobs, ctx, workers=workers).serve_forever()
            ctx.log.info("serve: stopped")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        queue.close()


def _base(config: ModqueueConfig) -> Path | None:
    return config.path.parent if config.path is not None else None


def check_config(config: ModqueueConfig, environ: dict[str, str] | None = None) -> list[str]:
    """Problems `load_config` cannot see: missing folders, unknown job names. Also returns
    warnings (prefixed `warning:`) for unset token or secret variables."""
    env = environ if environ is not None else dict(os.environ)
    where = str(config.path) if config.path is not None else "(defaults)"
    out: list[str] = []
    for name, source in sorted(config.sources.items()):
        if isinstance(source, FolderSourceConfig):
            path = source.path.expanduser()
            base = _base(config)
            full = path if path.is_absolute() or base is None else base / path
            if not full.is_dir():
                out.append(f"{where}: sources.{name}.path: folder {full} does not exist")
        elif source.token_env and not env.get(source.token_env):
            out.append(
                f"warning: {where}: sources.{name}.token_env: "
                f"environment variable {source.token_env} is not set"
            )
    for name, platform in sorted(config.platforms.items()):
        if not env.get(platform.secret_env):
            out.append(
                f"warning: {where}: platforms.{name}.secret_env: "
                f"environment variable {platform.secret_env} is not set"
            )
    every = {j.name for j in default_jobs(config.model_copy(update={"jobs": {}}))}
    for name in sorted(config.jobs):
        if name not in every:
            out.append(f"{where}: jobs.{name}: no such job (known: {', '.join(sorted(every))})")
    return out


def _job_row(job: JobSpec) -> dict[str, Any]:
    return {"name": job.name, "every_s": job.every, "description": job.description}


@config_app.command("check")
@uses("config", "as_json")
def config_check(cli: Invocation) -> None:
    """Validate the configuration (./modqueue.toml or --config): every problem is printed
    as `file: key: what is wrong` and the exit code is 1."""
    cfg = load_config(cli.config_path, required=True)
    problems = check_config(cfg)
    errors = [p for p in problems if not p.startswith("warning:")]
    for warning in (p for p in problems if p.startswith("warning:")):
        typer.echo(warning, err=True)
    if errors:
        raise ConfigError("\n".join(errors))
    jobs = default_jobs(cfg)
    if cli.show({"path": str(cfg.path), "ok": True, "jobs": [_job_row(j) for j in jobs]}):
        return
    typer.echo(f"{cfg.path}: ok ({len(cfg.sources)} source(s), {len(jobs)} job(s))")
    for job in jobs:
        typer.echo(f"  {job.name:<32} every {job.every:g}s  {job.description}")
