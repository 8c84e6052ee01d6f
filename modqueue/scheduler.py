"""The jobs `modqueue serve` runs, each a thin call into the services.

A job is a `JobSpec`: a name, a default interval and a function of a `JobContext`.
`default_jobs()` lists them; a `[jobs.NAME]` table in `modqueue.toml` overrides the
interval or disables one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from modqueue.config import ModqueueConfig
from modqueue.queue import ReviewQueue

__all__ = ["JobContext", "JobSpec", "default_jobs"]


@dataclass
class JobContext:
    """What a job runs with: the queue (and its database), the configuration, a logger."""

    queue: ReviewQueue
    config: ModqueueConfig
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("modqueue.jobs"))


@dataclass(frozen=True)
class JobSpec:
    """One scheduled job."""

    name: str
    every: float
    run: Callable[[JobContext], Any]
    description: str = ""


def _expire_leases(ctx: JobContext) -> int:
    return ctx.queue.expire_leases()


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


def default_jobs(config: ModqueueConfig) -> list[JobSpec]:
    """Every job `modqueue serve` runs under `config`, with intervals applied."""
    jobs = [
        JobSpec("leases", 30.0, _expire_leases, "return abandoned claims to the queue"),
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
            job = JobSpec(job.name, override.every, job.run, job.description)
        out.append(job)
    return out
