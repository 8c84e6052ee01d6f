"""Build a demo database for the reports and run the three report commands on it; the
samples in docs/reports.md come from this script.

    .venv/bin/python scripts/reports_demo.py OUT_DIR

It ingests the bundled sample items and 24 synthetic referrals from a trusted-flagger
source (through `modqueue.toml`), has three reviewers decide everything through the
decision pipeline (the product's 10% second review; every ninth decision is recorded as a
bank match), opens and decides three appeals, dispatches the actions to a local platform
endpoint that answers done, declined or pending by the item, sweeps the deadlines, and
writes `referrals.txt`, `statements.jsonl` and `transparency/` into OUT_DIR.
"""

from __future__ import annotations

import hashlib
import json
import sys
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from modqueue.cli import app
from modqueue.config import PlatformConfig, load_config
from modqueue.guidelines import Action
from modqueue.integrations.actions import dispatch_due
from modqueue.quality import open_appeal
from modqueue.queue import ReviewQueue
from modqueue.queue.deadlines import sweep_deadlines

SECRET = "demo-platform-secret-0123456789"  # noqa: S105 (a demo endpoint's)
START = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
CONFIG = """
[sources.police-iru]
kind = "folder"
path = "drop"
trusted_flagger = "Example Police Referral Unit"
trusted_boost = 30
trusted_sla = "2h"

[sources.iru-referrals]
kind = "folder"
path = "drop-iru"
trusted_flagger = "Example Internet Referral Unit"

[reports]
territorial_scope = ["DE", "FR", "NL"]

[reports.policies.people-smuggling]
ground = "illegal"
legal_ground = "Immigration Act 1971, s. 25 (assisting unlawful immigration)"
"""
REFERRALS = [
    ("people-smuggling", "Crossing this week, 100% success, message for price. Ref {n}"),
    ("drug-supply", "Grow-house workers wanted, cash daily, no questions. Ref {n}"),
]


class _Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


class _Platform(BaseHTTPRequestHandler):
    """Answers done, declined (one item in five) or pending (one in seven) by item."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        digest = int(hashlib.sha256(body["external_id"].encode()).hexdigest(), 16)
        status = "declined" if digest % 5 == 0 else "pending" if digest % 7 == 1 else "done"
        if body["action"].startswith(("restore", "unrestrict", "withdraw")):
            status = "done"
        reply = json.dumps({"status": status, "reference": f"ref-{digest % 10**8}"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)


def _decide_everything(queue: ReviewQueue, clock: _Clock) -> int:
    reviewers = ["rev-a", "rev-b", "rev-c"]
    decided = idle = 0
    while idle < len(reviewers):
        reviewer = reviewers[decided % len(reviewers)]
        clock.now += timedelta(minutes=7)
        claim = queue.claim_next(reviewer)
        if claim is None:
            idle += 1
            reviewers.append(reviewers.pop(0))
            continue
        idle = 0
        clock.now += timedelta(minutes=2)
        guideline = queue.guidelines.get(claim.item.policy or "triage")
        labels = [label for label in guideline.labels if label.action != Action.ESCALATE]
        pick = int(hashlib.sha256(claim.item.external_id.encode()).hexdigest(), 16)
        if claim.queue.endswith(":second") and claim.item_id % 3 == 0:
            pick += 1  # one blind second review in three disagrees
        label = labels[pick % len(labels)]
        origin = "bank" if decided % 9 == 8 else "api"
        queue.decide(claim, label.id, "demo decision", origin=origin)
        decided += 1
    return decided


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    config_path = out / "modqueue.toml"
    config_path.write_text(CONFIG, encoding="utf-8")
    db_path = out / "demo.db"
    db_path.unlink(missing_ok=True)
    db = f"sqlite:///{db_path}"
    clock = _Clock()
    queue = ReviewQueue(db, clock=clock)
    queue.flaggers = load_config(config_path).trusted_flaggers()
    samples = Path(__file__).resolve().parent.parent / "modqueue/data/sample_items.jsonl"
    items = [json.loads(line) for line in samples.read_text(encoding="utf-8").splitlines()]
    for n in range(24):
        policy, text = REFERRALS[n % 2]
        items.append(
            {
                "source": "police-iru",
                "external_id": f"ref-{n:03d}",
                "text": text.format(n=n),
                "policy": policy,
                "flagged_at": (START - timedelta(hours=3, minutes=7 * n)).isoformat(),
            }
        )
    report = queue.enqueue(items)
    assert not report.rejected, report.rejected
    decided = _decide_everything(queue, clock)

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Platform)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/actions"
    sources = ["platform-reports", "police-iru", "iru-referrals", "trusted-flagger"]
    sources += ["classifier", "hash-match"]
    platforms = {
        name: PlatformConfig.model_validate({"action_url": url, "secret_env": "DEMO_SECRET"})
        for name in sources
    }
    env = {"DEMO_SECRET": SECRET}
    clock.now += timedelta(hours=1)
    dispatch_due(queue, platforms, env=env)

    def takedowns(s: Any) -> list[int]:
        from sqlalchemy import text

        rows = s.execute(
            text("SELECT item_id FROM outbound_action WHERE status = 'done' ORDER BY id LIMIT 3")
        )
        return [int(r[0]) for r in rows]

    appealed = queue.run(takedowns)
    for item_id in appealed:
        queue.run(
            lambda s, i=item_id: open_appeal(
                s, item_id=i, note="the author appeals", actor="appeals-desk", now=clock()
            )
        )
    for index, item_id in enumerate(appealed):
        clock.now += timedelta(hours=2)
        item = queue.get_item(item_id)
        claim = queue.claim(item_id, "senior-1")
        guideline = queue.guidelines.get(item.policy or "triage")
        none = next(label for label in guideline.labels if label.action == Action.NONE)
        queue.decide(claim, none.id if index == 0 else item.final_label or none.id, "appeal")
    clock.now += timedelta(hours=1)
    dispatch_due(queue, platforms, env=env)
    clock.now += timedelta(hours=6)
    queue.run(lambda s: sweep_deadlines(s, guidelines=queue.guidelines, now=clock()))
    server.shutdown()
    queue.close()

    runner = CliRunner()
    common = ["--db", db, "--config", str(config_path)]
    referrals = runner.invoke(app, ["report", "referrals", *common, "--list"])
    (out / "referrals.txt").write_text(referrals.output, encoding="utf-8")
    statements = runner.invoke(
        app,
        [
            "report",
            "statements",
            *common,
            "--since",
            "2026-11-01",
            "--out",
            str(out / "statements.jsonl"),
        ],
    )
    transparency = runner.invoke(
        app,
        [
            "report",
            "transparency",
            *common,
            "--period",
            "2026-H2",
            "--out",
            str(out / "transparency"),
        ],
    )
    for result in (referrals, statements, transparency):
        assert result.exit_code == 0, result.output
    print(f"{len(items)} items, {decided} decisions; reports in {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
