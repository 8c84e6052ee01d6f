"""kill -9 of `modqueue actions dispatch` mid-batch, ten times, restarting each time:
nothing is lost, no key is made twice, each key takes effect once."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import select

from modqueue.queue import AuditEvent, OutboundAction, ReviewQueue
from tests.integrations.actions.conftest import SECRETS, decide_items
from tests.integrations.actions.platform_server import PlatformServer, platform_server

ACTIONS = 100
KILLS = 10


def _start(database_url: str, config: Path, tmp_path: Path, n: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "ALPHA_SECRET": SECRETS["alpha"]}
    log = (tmp_path / f"dispatch-{n}.log").open("wb")
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "modqueue.cli",
            "actions",
            "dispatch",
            "--db",
            database_url,
            "--config",
            str(config),
            "--batch-size",
            "4",
            "--idle",
            "0.1",
        ],
        env=env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def _sent(server: PlatformServer) -> int:
    with server.state.lock:
        return sum(server.state.requests.values())


def _wait_for(predicate: object, timeout: float) -> bool:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def test_kill_nine_mid_batch_loses_nothing(database_url: str, tmp_path: Path) -> None:
    names = [f"{'flaky' if n % 10 == 0 else 'done'}-{n}" for n in range(ACTIONS)]
    with ReviewQueue(database_url) as queue:
        decide_items(queue, names)
        keys_before = queue.run(
            lambda s: {r.id: r.idempotency_key for r in s.scalars(select(OutboundAction))}
        )
    rng = random.Random(6)
    with platform_server(dict(SECRETS), delay_s=0.04) as server:
        config = tmp_path / "modqueue.toml"
        config.write_text(
            f"""
[platforms.alpha]
action_url = "{server.action_url("alpha")}"
secret_env = "ALPHA_SECRET"
timeout_s = 5
max_attempts = 100
concurrency = 2
lease_s = 1
backoff_base_s = 0.2
backoff_max_s = 0.5
""",
            encoding="utf-8",
        )
        for n in range(KILLS):
            before = _sent(server)
            proc = _start(database_url, config, tmp_path, n)
            try:
                started = _wait_for(lambda b=before: _sent(server) > b, timeout=30)
                assert started, (tmp_path / f"dispatch-{n}.log").read_text()
                time.sleep(rng.uniform(0.0, 0.12))
            finally:
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=10)
            assert proc.returncode == -signal.SIGKILL

        final = _start(database_url, config, tmp_path, KILLS)
        try:
            with ReviewQueue(database_url) as queue:

                def settled() -> bool:
                    statuses = queue.run(
                        lambda s: set(s.scalars(select(OutboundAction.status)))  # type: ignore[call-overload]
                    )
                    return bool(statuses == {"done"})

                assert _wait_for(settled, timeout=60), (
                    tmp_path / f"dispatch-{KILLS}.log"
                ).read_text()
        finally:
            final.send_signal(signal.SIGTERM)
            final.wait(timeout=20)
        assert final.returncode == 0, (tmp_path / f"dispatch-{KILLS}.log").read_text()

        with ReviewQueue(database_url) as queue:
            rows = queue.run(lambda s: list(s.scalars(select(OutboundAction))))
            done_events = queue.run(
                lambda s: Counter(
                    (e.detail or {}).get("action_id")
                    for e in s.scalars(select(AuditEvent).where(AuditEvent.event == "action_done"))  # type: ignore[arg-type]
                )
            )
        assert len(rows) == ACTIONS
        assert {r.id: r.idempotency_key for r in rows} == keys_before
        assert {r.status for r in rows} == {"done"}
        # each key took effect once on the platform, and only the keys modqueue made
        assert set(server.state.effects) == set(keys_before.values())
        assert set(server.state.effects.values()) == {1}
        assert server.state.bad_signatures == {}
        # one recorded outcome per action, however many times it was sent
        assert done_events == Counter({r.id: 1 for r in rows})
        assert sum(server.state.requests.values()) >= ACTIONS
