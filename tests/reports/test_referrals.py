"""Trusted flaggers and `modqueue report referrals`: a seeded scenario with known outcomes
gives exact numbers, and every number traces to its item ids."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlmodel import col
from typer.testing import CliRunner

from modqueue.cli import app
from modqueue.config import ModqueueConfig
from modqueue.queue import (
    AuditEvent,
    Item,
    NoticeType,
    ReviewQueue,
    TrustedFlagger,
    add_reviewer,
    rescore_item,
)
from tests.conftest import Clock
from tests.reports.scenario import ORGANISATION, OTHER, POLICE, config_file, seeded

runner = CliRunner()


def _report(db: str, *args: str) -> dict[str, Any]:
    result = runner.invoke(app, ["report", "referrals", "--db", db, "--json", *args])
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.output))


def _row(report: dict[str, Any], source: str, policy: str) -> dict[str, Any]:
    return next(r for r in report["rows"] if r["source"] == source and r["policy"] == policy)


def test_config_declares_trusted_flaggers(tmp_path: Path) -> None:
    from modqueue.config import load_config

    config = load_config(config_file(tmp_path, tmp_path / "drop"))
    assert config.trusted_flaggers() == {POLICE: TrustedFlagger(ORGANISATION, 30.0, 2.0)}
    assert ModqueueConfig().trusted_flaggers() == {}
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[sources.x]\nkind = "folder"\npath = "d"\ntrusted_flagger = "Org"\ntrusted_sla = "soon"\n'
    )
    from modqueue import ConfigError

    try:
        load_config(bad)
    except ConfigError as exc:
        assert "sources.x.trusted_sla" in str(exc)
    else:
        raise AssertionError("a bad trusted_sla was accepted")


def test_trusted_items_get_boost_deadline_and_notice_type(
    database_url: str, clock: Clock, tmp_path: Path
) -> None:
    with seeded(database_url, clock, tmp_path) as scenario:
        queue = ReviewQueue(database_url, clock=clock)
        try:
            police = queue.run(lambda s: s.get(Item, scenario.ids["wait-1"]))
            other = queue.run(lambda s: s.get(Item, scenario.other_ids["done-9"]))
            assert police is not None and other is not None
            assert police.notice_type == NoticeType.TRUSTED_FLAGGER
            assert police.trusted_flagger == ORGANISATION
            assert other.notice_type == NoticeType.NOTICE
            assert other.trusted_flagger is None
            part = police.priority_breakdown["parts"]["trusted_flagger"]
            assert part["points"] == 30.0
            assert part["input"]["organisation"] == ORGANISATION
            assert police.flagged_at is not None
            # people-smuggling's SLA is 4h; the flagger's own is 2h
            assert police.deadline_at == police.flagged_at + timedelta(hours=2)
            # re-scoring (the deadline job, a model) keeps the boost
            priority, breakdown = rescore_item(queue.guidelines, police, now=clock())
            assert breakdown["parts"]["trusted_flagger"]["points"] == 30.0
            assert priority == breakdown["total"]
            assert round(priority - 30.0, 3) == round(
                sum(p["points"] for k, p in breakdown["parts"].items() if k != "trusted_flagger"),
                3,
            )
        finally:
            queue.close()


def test_referral_report_exact_numbers(database_url: str, clock: Clock, tmp_path: Path) -> None:
    with seeded(database_url, clock, tmp_path) as scenario:
        report = _report(database_url, "--list")
        assert [(r["source"], r["policy"]) for r in report["rows"]] == [
            (POLICE, "drug-supply"),
            (POLICE, "people-smuggling"),
        ]
        smuggling = _row(report, POLICE, "people-smuggling")
        assert smuggling == {
            "source": POLICE,
            "policy": "people-smuggling",
            "trusted_flagger": ORGANISATION,
            "referred": 10,
            "removed": 3,
            "declined": 1,
            "left_up": 2,
            "in_queue": 2,
            "awaiting_platform": 1,
            "not_sent": 1,
            # flag to done: 2h, 3h, 5h (nearest rank)
            "median_hours_to_removal": 3.0,
            "p90_hours_to_removal": 5.0,
        }
        drugs = _row(report, POLICE, "drug-supply")
        assert (drugs["referred"], drugs["removed"], drugs["declined"], drugs["in_queue"]) == (
            3,
            1,
            1,
            1,
        )
        assert drugs["median_hours_to_removal"] == 1.0
        totals = report["totals"]
        assert totals["referred"] == 13
        assert totals["removed"] == 4
        assert totals["median_hours_to_removal"] == 2.0  # of 1h, 2h, 3h, 5h
        assert totals["p90_hours_to_removal"] == 5.0
        ids = scenario.ids
        items = report["items"]
        assert items[f"{POLICE}/people-smuggling"] == {
            "removed": sorted([ids["done-1"], ids["done-2"], ids["done-3"]]),
            "declined": [ids["declined-1"]],
            "left_up": sorted([ids["leave-1"], ids["leave-2"]]),
            "in_queue": sorted([ids["wait-1"], ids["wait-2"]]),
            "awaiting_platform": [ids["pending-done-1"]],
            "not_sent": [ids["down-1"]],
        }
        assert items[f"{POLICE}/drug-supply"] == {
            "removed": [ids["done-4"]],
            "declined": [ids["declined-2"]],
            "in_queue": [ids["old-1"]],
        }
        # every number is traced by exactly that many ids
        for row in report["rows"]:
            traced = items[f"{row['source']}/{row['policy']}"]
            for outcome in report["outcomes"]:
                assert row[outcome] == len(traced.get(outcome, []))

        since = _report(database_url, "--since", "2026-11-01", "--until", "2026-12-01")
        assert since["totals"]["referred"] == 12
        assert _row(since, POLICE, "drug-supply")["in_queue"] == 0

        other = _report(database_url, "--source", OTHER)
        assert [(r["source"], r["referred"], r["removed"]) for r in other["rows"]] == [
            (OTHER, 1, 1)
        ]
        assert other["rows"][0]["trusted_flagger"] is None

        text = runner.invoke(app, ["report", "referrals", "--db", database_url, "--list"])
        assert text.exit_code == 0, text.output
        assert "people-smuggling" in text.output and "total" in text.output
        assert f"{POLICE}/people-smuggling not_sent: {ids['down-1']}" in text.output


def test_referral_report_needs_a_lead(database_url: str, clock: Clock) -> None:
    queue = ReviewQueue(database_url, clock=clock)
    try:
        admin = queue.run(
            lambda s: add_reviewer(s, actor=None, name="boss", role="admin", now=clock())
        )
        reviewer = queue.run(
            lambda s: add_reviewer(s, actor="boss", name="rev", role="reviewer", now=clock())
        )
    finally:
        queue.close()
    base = ["report", "referrals", "--db", database_url]
    refused = runner.invoke(app, [*base, "--reviewer", "rev", "--token", reviewer.token])
    assert refused.exit_code == 1
    assert "needs role lead or above" in refused.output
    anonymous = runner.invoke(app, base)
    assert anonymous.exit_code == 1
    allowed = runner.invoke(app, [*base, "--reviewer", "boss", "--token", admin.token])
    assert allowed.exit_code == 0, allowed.output
    queue = ReviewQueue(database_url, clock=clock)
    try:
        denied = queue.run(
            lambda s: s.execute(
                select(col(AuditEvent.actor)).where(col(AuditEvent.event) == "access_denied")
            ).all()
        )
        assert [d[0] for d in denied] == ["rev", "(unidentified)"]
    finally:
        queue.close()
