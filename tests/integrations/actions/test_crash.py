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
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import select

from modqueue.queue import AuditEvent, OutboundAction, ReviewQueue
from tests.integrations.actions.conftest import SECRETS, decide_items
from tests.integrations.actions.platform_server import PlatformServer, platform_server

ACTIONS = 100
KILLS = 10

# Each dispatcher is a real process running `modqueue actions dispatch` (the CLI's own
# main()), forked from a server process that imported modqueue once: eleven restarts
# then cost eleven forks instead of eleven interpreter start-ups. Commands on stdin:
# `go LOGFILE` forks a dispatcher and prints its pid; `wait PID` prints its wait status.
FORK_SERVER = r"""
import os, sys
import psycopg, sqlite3  # noqa: F401  (warm the database drivers too)
import modqueue.cli

args = sys.argv[1:]
for line in sys.stdin:
    cmd, _, arg = line.strip().partition(" ")
    if cmd == "go":
        pid = os.fork()
        if pid == 0:
            fd = os.open(arg, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            sys.argv = ["modqueue", *args]
            code = 0
            try:
                modqueue.cli.main()
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
        print(pid, flush=True)
    elif cmd == "wait":
        print(os.waitpid(int(arg), 0)[1], flush=True)
"""


class ForkServer:
    """Starts dispatchers on demand; kills and reaps them."""

    def __init__(self, database_url: str, config: Path, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                FORK_SERVER,
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
            env={**os.environ, "ALPHA_SECRET": SECRETS["alpha"]},
            cwd=tmp_path,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def _ask(self, line: str) -> int:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return int(self.proc.stdout.readline())

    def log(self, n: int) -> Path:
        return self.tmp_path / f"dispatch-{n}.log"

    def start(self, n: int) -> int:
        return self._ask(f"go {self.log(n)}")

    def stop(self, pid: int, sig: signal.Signals) -> int:
        os.kill(pid, sig)
        return self._ask(f"wait {pid}")

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


def _sent(server: PlatformServer) -> int:
    with server.state.lock:
        return sum(server.state.requests.values())


def _sent_more(server: PlatformServer, before: int) -> bool:
    return _sent(server) > before


def _wait_for(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


@pytest.mark.slow  # processes killed and restarted
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
        forks = ForkServer(database_url, config, tmp_path)
        try:
            for n in range(KILLS):
                before = _sent(server)
                pid = forks.start(n)
                try:
                    started = _wait_for(partial(_sent_more, server, before), timeout=30)
                    assert started, forks.log(n).read_text()
                    time.sleep(rng.uniform(0.0, 0.12))
                finally:
                    status = forks.stop(pid, signal.SIGKILL)
                assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL

            pid = forks.start(KILLS)
            try:
                with ReviewQueue(database_url) as queue:

                    def settled() -> bool:
                        statuses = queue.run(
                            lambda s: set(s.scalars(select(OutboundAction.status)))  # type: ignore[call-overload]
                        )
                        return bool(statuses == {"done"})

                    assert _wait_for(settled, timeout=60), forks.log(KILLS).read_text()
            finally:
                status = forks.stop(pid, signal.SIGTERM)  # finishes its batch, exits 0
            assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, forks.log(
                KILLS
            ).read_text()
        finally:
            forks.close()

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
