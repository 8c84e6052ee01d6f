"""A seeded referral scenario with known outcomes, driven through the real ingest (with
the `[sources.X] trusted_flagger` configuration), claim/decide pipeline and action
dispatch against the local platform server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col
from typer.testing import CliRunner

from modqueue.cli import app
from modqueue.config import PlatformConfig
from modqueue.integrations.actions import dispatch_due
from modqueue.quality import QualityConfig
from modqueue.queue import Item, ReviewQueue, TrustedFlagger
from tests.conftest import Clock, make_item
from tests.integrations.actions.platform_server import PlatformServer, platform_server

POLICE = "police-iru"
OTHER = "platform-reports"
ORGANISATION = "Example Police Referral Unit"
SECRETS = {POLICE: "police-secret-0123456789", OTHER: "reports-secret-0123456789"}
ENV = {"POLICE_SECRET": SECRETS[POLICE], "REPORTS_SECRET": SECRETS[OTHER]}
REPORTER_CONTACT = "reporter-contact@example.org"
AUTHOR = {"id": "author-1", "handle": "author-handle-secret"}
SMUGGLING_TAKEDOWN = "remove-fake-documents"  # remove_and_ban
DRUG_TAKEDOWN = "remove-supply"  # remove

# external id -> (policy, label or None for "left in the queue", flagged at)
POLICE_ITEMS: dict[str, tuple[str, str | None, str]] = {
    "done-1": ("people-smuggling", SMUGGLING_TAKEDOWN, "2026-11-24T08:00:00Z"),
    "done-2": ("people-smuggling", SMUGGLING_TAKEDOWN, "2026-11-24T07:00:00Z"),
    "done-3": ("people-smuggling", SMUGGLING_TAKEDOWN, "2026-11-24T05:00:00Z"),
    "declined-1": ("people-smuggling", SMUGGLING_TAKEDOWN, "2026-11-24T08:00:00Z"),
    "pending-done-1": ("people-smuggling", SMUGGLING_TAKEDOWN, "2026-11-24T08:00:00Z"),
    "down-1": ("people-smuggling", SMUGGLING_TAKEDOWN, "2026-11-24T08:00:00Z"),
    "leave-1": ("people-smuggling", "news-or-safety-warning", "2026-11-24T08:00:00Z"),
    "leave-2": ("people-smuggling", "no-violation", "2026-11-24T08:00:00Z"),
    "wait-1": ("people-smuggling", None, "2026-11-24T08:30:00Z"),
    "wait-2": ("people-smuggling", None, "2026-11-24T08:30:00Z"),
    "done-4": ("drug-supply", DRUG_TAKEDOWN, "2026-11-24T09:00:00Z"),
    "declined-2": ("drug-supply", DRUG_TAKEDOWN, "2026-11-24T09:00:00Z"),
    "old-1": ("drug-supply", None, "2026-10-01T09:00:00Z"),
}
OTHER_ITEMS: dict[str, tuple[str, str | None, str]] = {
    "done-9": ("people-smuggling", SMUGGLING_TAKEDOWN, "2026-11-24T08:00:00Z"),
}


@dataclass
class Scenario:
    """The seeded database: item ids by external id, per source."""

    db: str
    ids: dict[str, int] = field(default_factory=dict)
    other_ids: dict[str, int] = field(default_factory=dict)


def config_file(folder: Path, drop: Path) -> Path:
    """A `modqueue.toml` declaring the police source a trusted flagger."""
    path = folder / "modqueue.toml"
    path.write_text(
        f"""
[sources.{POLICE}]
kind = "folder"
path = "{drop}"
trusted_flagger = "{ORGANISATION}"
trusted_boost = 30
trusted_sla = "2h"
""",
        encoding="utf-8",
    )
    return path


def platforms(server: PlatformServer) -> dict[str, PlatformConfig]:
    """Both sources' platforms on the local server, short time-outs."""
    return {
        name: PlatformConfig.model_validate(
            {
                "action_url": server.action_url(name),
                "secret_env": env,
                "timeout_s": 0.5,
                "max_attempts": 4,
                "status_url": server.status_url(name),
                "backoff_base_s": 600.0,
            }
        )
        for name, env in ((POLICE, "POLICE_SECRET"), (OTHER, "REPORTS_SECRET"))
    }


def _jsonl(path: Path, source: str, items: dict[str, tuple[str, str | None, str]]) -> None:
    lines = []
    for n, (ext, (policy, _, flagged)) in enumerate(items.items()):
        extra: dict[str, Any] = (
            {"report_count": 0}
            if source == POLICE
            else {"reporter": {"id": "r-1", "contact": REPORTER_CONTACT}, "author": AUTHOR}
        )
        item = make_item(
            n, source=source, external_id=ext, policy=policy, flagged_at=flagged, **extra
        )
        lines.append(json.dumps(item))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@contextmanager
def seeded(database_url: str, clock: Clock, tmp_path: Path) -> Iterator[Scenario]:
    """Ingest through the CLI (with the configuration), decide through the pipeline,
    dispatch to the platform server; yields the scenario with the server stopped."""
    runner = CliRunner()
    config = config_file(tmp_path, tmp_path / "drop")
    scenario = Scenario(db=database_url)
    for source, items in ((POLICE, POLICE_ITEMS), (OTHER, OTHER_ITEMS)):
        path = tmp_path / f"{source}.jsonl"
        _jsonl(path, source, items)
        result = runner.invoke(
            app, ["ingest", str(path), "--db", database_url, "--config", str(config)]
        )
        assert result.exit_code == 0, result.output
    queue = ReviewQueue(database_url, clock=clock)
    # Every decision here is final: a blind second review would hold an action until it
    # settles, and this scenario is about what the platform did with each action.
    queue.quality = QualityConfig(second_review_share=0.0)
    queue.flaggers = {POLICE: TrustedFlagger(ORGANISATION, 30.0, 2.0)}
    try:
        scenario.ids = queue.run(partial(_item_ids, source=POLICE))
        scenario.other_ids = queue.run(partial(_item_ids, source=OTHER))
        for ids, items in ((scenario.ids, POLICE_ITEMS), (scenario.other_ids, OTHER_ITEMS)):
            for ext, (_, label, _) in items.items():
                if label is not None:
                    claim = queue.claim(ids[ext], "rev-1")
                    queue.decide(claim, label, "private reviewer note: do not publish")
        clock.now = clock.now.replace(hour=10, minute=0)
        with platform_server(dict(SECRETS)) as server:
            dispatch_due(queue, platforms(server), env=ENV)
        yield scenario
    finally:
        queue.close()


def _item_ids(session: Session, *, source: str) -> dict[str, int]:
    stmt = select(col(Item.external_id), col(Item.id)).where(col(Item.source) == source)
    return {str(ext): int(item_id) for ext, item_id in session.execute(stmt)}
