"""`modqueue report transparency`: figures by SQL aggregation for a period, the same in
report.json, report.md and report.html; the HTML renders in headless Chromium."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from modqueue.cli import app
from modqueue.quality import QualityConfig, open_appeal
from modqueue.queue import ReviewQueue
from modqueue.reports import parse_period
from tests.conftest import Clock, make_item
from tests.reports.scenario import ORGANISATION, OTHER, seeded
from tests.support.browser import artifacts_dir, chromium

runner = CliRunner()


def _transparency(db: str, period: str, out: Path) -> Any:
    args = ["report", "transparency", "--db", db, "--period", period, "--out", str(out)]
    return runner.invoke(app, args)


@contextmanager
def reported(database_url: str, clock: Clock, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The referral scenario, plus a bank-matched restriction, an overturned appeal and a
    disagreeing blind second review; yields the report's folder and data."""
    with seeded(database_url, clock, tmp_path) as scenario:
        queue = ReviewQueue(database_url, clock=clock)
        try:
            queue.quality = QualityConfig(second_review_share=0.0)
            bank = make_item(90, source="hash-scanner", policy="hate", report_count=0)
            assert queue.enqueue([bank]).rejected == []
            claim = queue.claim_next("bank-matcher", ["hate"])
            assert claim is not None
            queue.decide(claim, "restrict-borderline", "", origin="bank")

            done1 = scenario.ids["done-1"]
            queue.run(
                lambda s: open_appeal(
                    s, item_id=done1, note="author appeals", actor="appeals", now=clock()
                )
            )
            clock.advance(minutes=30)
            queue.decide(queue.claim(done1, "senior-1"), "no-violation", "overturned")

            # This item is about second review, so every decision is sampled for one.
            queue.quality = QualityConfig(second_review_share=1.0)
            second = make_item(91, source=OTHER, external_id="sr-1", policy="drug-supply")
            assert queue.enqueue([second]).rejected == []
            item_id = queue.run(lambda s: _id_of(s, "sr-1"))
            queue.decide(queue.claim(item_id, "rev-1"), "remove-supply", "")
            queue.decide(queue.claim(item_id, "rev-2"), "restrict-glorification", "")
        finally:
            queue.close()
        out = tmp_path / "report"
        result = runner.invoke(
            app,
            [
                "report",
                "transparency",
                "--db",
                database_url,
                "--period",
                "2026-H2",
                "--out",
                str(out),
            ],
        )
        assert result.exit_code == 0, result.output
        yield {"out": out, "data": json.loads((out / "report.json").read_text(encoding="utf-8"))}


def _id_of(session: Any, external_id: str) -> int:
    from sqlalchemy import select
    from sqlmodel import col

    from modqueue.queue import Item

    stmt = select(col(Item.id)).where(col(Item.external_id) == external_id)
    return int(session.execute(stmt).scalar_one())


def test_transparency_figures(database_url: str, clock: Clock, tmp_path: Path) -> None:
    with reported(database_url, clock, tmp_path) as report:
        data, out = report["data"], report["out"]
    assert data["period"]["start"] == "2026-07-01T00:00:00+00:00"
    assert data["period"]["end"] == "2027-01-01T00:00:00+00:00"
    notices = data["notices"]
    assert notices["by_source_type"] == {"notice": 2, "own_initiative": 1, "trusted_flagger": 13}
    assert notices["trusted_flaggers"] == [{"organisation": ORGANISATION, "items": 13}]
    assert notices["total"] == 16
    actions = {(r["action"], r["status"]): r["actions"] for r in data["actions"]["rows"]}
    assert actions == {
        ("remove_and_ban", "done"): 4,
        ("remove_and_ban", "declined"): 1,
        ("remove_and_ban", "sent"): 1,
        ("remove_and_ban", "pending"): 1,
        ("remove", "done"): 1,
        ("remove", "declined"): 1,
        ("restrict", "pending"): 1,
        ("restore_and_unban", "pending"): 1,
    }
    # flag to done: 1h (drugs); 2h, 2h, 3h, 5h (smuggling), nearest rank
    to_action = data["time_to_action"]
    assert (to_action["count"], to_action["median_hours"], to_action["p90_hours"]) == (5, 2.0, 5.0)
    assert to_action["by_policy"]["people-smuggling"] == {
        "count": 4,
        "median_hours": 2.0,
        "p90_hours": 5.0,
    }
    assert data["decisions"]["automated"] == 1
    assert data["decisions"]["human"] == 14
    assert (data["appeals"]["received"], data["appeals"]["overturned"]) == (1, 1)
    assert data["appeals"]["rows"][0]["policy"] == "people-smuggling"
    assert data["second_review"]["rows"] == [
        {"policy": "drug-supply", "reviewed": 1, "agreed": 0, "agreement": 0.0}
    ]
    breaches = {r["policy"]: (r["items"], r["breached"]) for r in data["deadline_breaches"]["rows"]}
    # done-3 (flagged 4h before its decision, 2h SLA), wait-1, wait-2; old-1. sr-1, still
    # unsettled between its two reviewers, had its first decision in time; done-1's appeal
    # was decided after its deadline, but its first decision was not.
    assert breaches == {"drug-supply": (4, 1), "hate": (1, 0), "people-smuggling": (11, 3)}

    markdown = (out / "report.md").read_text(encoding="utf-8")
    assert "# Transparency report 2026-H2" in markdown
    assert f"| {ORGANISATION} | 13 |" in markdown
    assert "| remove_and_ban | done | 4 |" in markdown
    assert "| drug-supply | 1 | 0 | 0 |" in markdown
    page = (out / "report.html").read_text(encoding="utf-8")
    assert page.count('src="data:image/png;base64,') == 7
    for forbidden in ("http://", "https://", "<script", "<link"):
        assert forbidden not in page
    assert f"<td>{ORGANISATION}</td>" in page


def test_periods(database_url: str, tmp_path: Path) -> None:
    assert parse_period("2026-Q3").start.month == 7 and parse_period("2026-Q3").end.month == 10
    assert parse_period("2026-07").end.month == 8
    assert parse_period("2026-12").end.year == 2027
    assert parse_period("2026").end.year == 2027
    assert parse_period("2026-H1").end.month == 7
    for bad in ("2026-H3", "2026-13", "26-Q1", "2026-Q5", "H2"):
        result = runner.invoke(
            app,
            [
                "report",
                "transparency",
                "--db",
                database_url,
                "--period",
                bad,
                "--out",
                str(tmp_path),
            ],
        )
        assert result.exit_code == 1
        assert "period" in result.output and bad in result.output
    empty = _transparency(database_url, "2026-07", tmp_path / "empty")
    assert empty.exit_code == 0, empty.output
    data = json.loads((tmp_path / "empty" / "report.json").read_text(encoding="utf-8"))
    assert data["notices"]["total"] == 0 and data["time_to_action"]["median_hours"] is None
    assert "None in this period." in (tmp_path / "empty" / "report.md").read_text()


@pytest.mark.slow
def test_transparency_html_renders_in_chromium(
    database_url: str, clock: Clock, tmp_path: Path
) -> None:
    with reported(database_url, clock, tmp_path) as report:
        page = report["out"] / "report.html"
    # tall enough for the whole page, charts included, in the screenshot
    with chromium(tmp_path / "profile", width=1200, height=7000) as driver:
        driver.get(page.as_uri())
        assert driver.title == "Transparency report 2026-H2"
        loaded = driver.execute_script(
            "return Array.from(document.images).map(i => i.complete && i.naturalWidth > 0)"
        )
        assert loaded == [True] * 7
        fetched = driver.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name)"
        )
        assert fetched == []  # nothing fetched: charts and styles are inside the page
        log = driver.get_log("browser")  # type: ignore[no-untyped-call]
        errors = [e for e in log if e["level"] in ("SEVERE", "WARNING")]
        assert errors == []
        shot = tmp_path / "transparency.png"
        assert driver.save_screenshot(str(shot))
    backend = "postgresql" if database_url.startswith("postgresql") else "sqlite"
    kept = artifacts_dir() / f"reports-transparency-{backend}.png"
    shutil.copyfile(shot, kept)
    print(f"screenshot: {kept}")
