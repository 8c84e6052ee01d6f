"""Notifiers as outbox destinations: `[sources.X] notify_url` becomes the destination
`notify:X`, delivered by the same dispatcher as the platforms' actions."""

from __future__ import annotations

from modqueue.config import ModqueueConfig, PlatformConfig
from modqueue.queue import NOTIFY_PREFIX

__all__ = ["destinations", "notifiers"]


def notifiers(config: ModqueueConfig) -> dict[str, PlatformConfig]:
    """`{"notify:<source>": destination}` for every source with a `notify_url`: the
    platform defaults for time-outs, retries and backoff, signed with the secret named
    by `notify_secret_env`."""
    out: dict[str, PlatformConfig] = {}
    for name, source in config.sources.items():
        if source.notify_url is not None and source.notify_secret_env is not None:
            out[NOTIFY_PREFIX + name] = PlatformConfig(
                action_url=source.notify_url,
                secret_env=source.notify_secret_env,
                timeout_s=source.notify_timeout_s,
                max_attempts=source.notify_max_attempts,
            )
    return out


def destinations(config: ModqueueConfig) -> dict[str, PlatformConfig]:
    """Every outbox destination of `config`: its platforms and its notifiers."""
    return {**config.platforms, **notifiers(config)}
