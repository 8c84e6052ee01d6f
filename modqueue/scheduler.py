"""The jobs `modqueue serve` runs, each a thin call into the services.

A job is a `JobSpec`: a name, a default interval and a function of a `JobContext`.
`default_jobs()` lists them; a `[jobs.NAME]` table in `modqueue.toml` overrides the
interval or disables one.

`run_job()` runs one job under a lock named after it (`try_exclusive`), so several
`modqueue serve` processes on one database never run the same job at the same time: the
one that finds the lock taken skips that round. A job that fails is logged with its name
and does not stop the others. `run_once()` runs every job once (`serve --once`);
`Scheduler` runs them on their intervals with APScheduler until `stop()`.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from modqueue._exceptions import ModqueueError
from modqueue.config import ModqueueConfig
from modqueue.integrations.sources import make_source
from modqueue.queue import ReviewQueue
from modqueue.queue.deadlines import DeadlineReport, sweep_deadlines
from modqueue.queue.locks import try_exclusive

__all__ = [
    "CORE",
    "JobContext",
    "JobResult",
    "JobSpec",
    "Scheduler",
    "default_jobs",
    "run_job",
    "run_once",
]

CORE = "core"
"""The lane of the jobs that keep the queue healthy (leases, deadlines)."""


@dataclass
class JobContext:
    """What a job runs with: the queue (and its database), the configuration, a logger,
    and `stop`, set when the process is asked to exit (long jobs check it between steps)."""

    queue: ReviewQueue
    config: ModqueueConfig
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("modqueue.jobs"))
    stop: threading.Event = field(default_factory=threading.Event)


@dataclass(frozen=True)
class JobSpec:
    """One scheduled job. `lane` names the thread pool it runs in under `Scheduler`:
    jobs of one lane share that lane's threads, and no other lane can hold them up
    (`None`: the shared pool of `--workers` threads)."""

    name: str
    every: float
    run: Callable[[JobContext], Any]
    description: str = ""
    lane: str | None = None


@dataclass(frozen=True, slots=True)
class JobResult:
    """How one run of a job went: `ok`, `skipped` (another process held its lock) or
    failed with `error`; `value` is what the job returned."""

    name: str
    ok: bool
    skipped: bool = False
    value: Any = None
    error: str | None = None
    seconds: float = 0.0


def _expire_leases(ctx: JobContext) -> int:
    return ctx.queue.expire_leases()


def _dispatch_actions(ctx: JobContext) -> dict[str, Any]:
    from modqueue.integrations.actions import dispatch_due

    report = dispatch_due(ctx.queue, ctx.config.platforms, stop=ctx.stop)
    if report.busy:
        ctx.log.info("actions: %s", report.summary())
    return report.to_dict()


def _poll_action_status(ctx: JobContext) -> dict[str, Any]:
    from modqueue.integrations.actions import poll_statuses

    report = poll_statuses(ctx.queue, ctx.config.platforms, stop=ctx.stop)
    if report.busy:
        ctx.log.info("action-status: %s", report.summary())
    return report.to_dict()


def _action_jobs(config: ModqueueConfig) -> list[JobSpec]:
    """Delivery and outcome follow-up, when at least one platform is configured."""
    if not config.platforms:
        return []
    return [
        JobSpec("actions", 5.0, _dispatch_actions, "deliver due takedown actions to platforms"),
        JobSpec(
            "action-status", 60.0, _poll_action_status, "follow up actions whose outcome is pending"
        ),
    ]


def _sweep_deadlines(ctx: JobContext) -> DeadlineReport:
    total = DeadlineReport()
    queue, cfg = ctx.queue, ctx.config.deadlines
    while not ctx.stop.is_set():
        batch = queue.run(
            lambda s: sweep_deadlines(s, guidelines=queue.guidelines, now=queue.clock(), config=cfg)
        )
        total.add(batch)
        if batch.changed == 0:
            break
    return total


def _pull_source(name: str, ctx: JobContext) -> Any:
    base = ctx.config.path.parent if ctx.config.path is not None else None
    source = make_source(name, ctx.config.sources[name], base=base)
    return source.pull(ctx.queue, stop=ctx.stop)


def _source_jobs(config: ModqueueConfig) -> list[JobSpec]:
    return [
        JobSpec(
            f"source:{name}",
            source.every,
            functools.partial(_pull_source, name),
            f"pull new items from the {source.kind} source {name}",
            lane=f"source:{name}",
        )
        for name, source in sorted(config.sources.items())
    ]


def _labelstudio_push(ctx: JobContext) -> Any:
    from modqueue.integrations.labelstudio import (
        LabelStudioClient,
        LabelStudioConnection,
        push,
    )

    section = ctx.config.labelstudio
    assert section is not None
    client = LabelStudioClient(LabelStudioConnection.from_env(section))
    return push(ctx.queue, client, section).to_dict()


def _labelstudio_pull(ctx: JobContext) -> Any:
    from modqueue.integrations.labelstudio import LabelStudioClient, LabelStudioConnection, pull

    section = ctx.config.labelstudio
    assert section is not None
    client = LabelStudioClient(LabelStudioConnection.from_env(section))
    return pull(ctx.queue, client).to_dict()


def _model_score(ctx: JobContext) -> Any:
    from modqueue.learning import prescore_pending

    report = prescore_pending(ctx.queue, config=ctx.config.models)
    for warning in report.warnings:
        ctx.log.warning("model-score: %s", warning)
    return report.to_dict()


def _model_drift(ctx: JobContext) -> Any:
    from modqueue.learning import check_drift

    report = check_drift(ctx.queue, config=ctx.config.models)
    for policy in report.drifted:
        check = report.checks[policy]
        ctx.log.warning(
            "model-drift: %s %s precision %.3f on %d recent decisions, %.3f on test",
            policy,
            check["version"],
            check["recent_precision"],
            check["decisions"],
            check["test_precision"],
        )
    return report.to_dict()


def _model_jobs(config: ModqueueConfig) -> list[JobSpec]:
    """Pre-scoring by the active models, when `modqueue.toml` has a `[models]` section."""
    if "models" not in config.model_fields_set:
        return []
    return [
        JobSpec("model-score", 30.0, _model_score, "score new items with the active models"),
        JobSpec(
            "model-drift",
            3600.0,
            _model_drift,
            "compare the active models' recent precision with their test precision",
        ),
    ]


def _hash_media(ctx: JobContext) -> dict[str, Any]:
    from modqueue.integrations.media_hashes import hash_pending_media

    report = hash_pending_media(ctx.queue, ctx.config.media, stop=ctx.stop)
    if report.busy:
        ctx.log.info("media: %s", report.summary())
    return report.to_dict()


def _media_jobs(config: ModqueueConfig) -> list[JobSpec]:
    """Image hashing, when `modqueue.toml` has a `[media]` section (it fetches item URLs)."""
    if "media" not in config.model_fields_set:
        return []
    return [
        JobSpec(
            "media", 30.0, _hash_media, "fetch and hash images of items that came without hashes"
        )
    ]


def default_jobs(config: ModqueueConfig) -> list[JobSpec]:
    """Every job `modqueue serve` runs under `config`, with intervals applied."""
    jobs = [
        JobSpec("leases", 30.0, _expire_leases, "return abandoned claims to the queue", CORE),
        JobSpec("deadlines", 60.0, _sweep_deadlines, "mark, raise and escalate items by SLA", CORE),
        *_action_jobs(config),
        *_source_jobs(config),
        *_model_jobs(config),
        *_media_jobs(config),
    ]
    if config.labelstudio is not None and config.labelstudio.queues:
        jobs += [
            JobSpec(
                "labelstudio-push",
                config.labelstudio.push_every,
                _labelstudio_push,
                "send a share of the routed queues to Label Studio",
            ),
            JobSpec(
                "labelstudio-pull",
                config.labelstudio.pull_every,
                _labelstudio_pull,
                "turn new Label Studio annotations into decisions",
            ),
        ]
    out = []
    for job in jobs:
        override = config.jobs.get(job.name)
        if override is not None and not override.enabled:
            continue
        if override is not None and "every" in override.model_fields_set:
            job = dataclasses.replace(job, every=override.every)
        out.append(job)
    return out


def _summary(value: Any) -> Any:
    to_dict = getattr(value, "to_dict", None)
    return to_dict() if callable(to_dict) else value


def run_job(job: JobSpec, ctx: JobContext) -> JobResult:
    """Run `job` once if no other process is running it; never raises for a job's error.

    The error is logged with the job's name (a `ModqueueError` as one line, anything
    else with its traceback) and returned in the `JobResult`.
    """
    started = time.monotonic()
    extra: dict[str, Any] = {"job": job.name}
    with try_exclusive(ctx.queue.engine, f"job:{job.name}") as mine:
        if not mine:
            ctx.log.info("job %s skipped: running in another process", job.name, extra=extra)
            return JobResult(job.name, ok=True, skipped=True)
        try:
            value = job.run(ctx)
        except ModqueueError as exc:
            if isinstance(getattr(exc, "source", None), str):
                extra["source"] = exc.source  # type: ignore[attr-defined]
            ctx.log.error("job %s failed: %s", job.name, exc, extra=extra)
            return JobResult(job.name, ok=False, error=str(exc))
        except Exception as exc:
            ctx.log.exception("job %s crashed: %s", job.name, type(exc).__name__, extra=extra)
            return JobResult(job.name, ok=False, error=f"{type(exc).__name__}: {exc}")
    seconds = time.monotonic() - started
    ctx.log.info(
        "job %s done in %.2fs",
        job.name,
        seconds,
        extra={**extra, "result": _summary(value), "seconds": round(seconds, 3)},
    )
    return JobResult(job.name, ok=True, value=value, seconds=seconds)


def run_once(jobs: Sequence[JobSpec], ctx: JobContext) -> list[JobResult]:
    """Run every job once, in order (stopping early if `ctx.stop` is set)."""
    results = []
    for job in jobs:
        if ctx.stop.is_set():
            break
        results.append(run_job(job, ctx))
    return results


class Scheduler:
    """Runs jobs on their intervals in a background APScheduler until `stop()`.

    Each job runs first at start, then every `every` seconds; a run still going when the
    next is due is not doubled (`max_instances=1`, missed runs coalesced). Jobs run in
    thread pools by lane: the `core` jobs (leases, deadlines) have their own threads,
    every source has its own thread, and the other jobs share `workers` threads. So a
    source that hangs or floods holds up nothing but itself.
    """

    def __init__(self, jobs: Sequence[JobSpec], ctx: JobContext, *, workers: int = 4) -> None:
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.schedulers.background import BackgroundScheduler

        self.jobs = list(jobs)
        self.ctx = ctx
        lanes: dict[str, int] = {}
        for job in self.jobs:
            if job.lane is not None:
                lanes[job.lane] = lanes.get(job.lane, 0) + 1
        executors: dict[str, Any] = {"default": ThreadPoolExecutor(max_workers=max(1, workers))}
        for lane, count in lanes.items():
            executors[f"lane:{lane}"] = ThreadPoolExecutor(max_workers=count)
        self._scheduler = BackgroundScheduler(
            executors=executors,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone="UTC",
        )
        for job in self.jobs:
            self._scheduler.add_job(
                run_job,
                "interval",
                args=[job, ctx],
                seconds=job.every,
                id=job.name,
                name=job.name,
                executor="default" if job.lane is None else f"lane:{job.lane}",
                next_run_time=datetime.now(UTC),
            )

    def start(self) -> None:
        """Start running the jobs in background threads."""
        self._scheduler.start()

    def stop(self, *, wait: bool = True) -> None:
        """Ask running jobs to stop between steps, then wait for them to finish."""
        self.ctx.stop.set()
        if self._scheduler.running:
            self._scheduler.shutdown(wait=wait)

    def serve_forever(self, *, poll_s: float = 0.2) -> None:
        """Start, block until `ctx.stop` is set (e.g. by a signal handler), then stop."""
        self.start()
        try:
            while not self.ctx.stop.wait(poll_s):
                pass
        finally:
            self.stop(wait=True)
