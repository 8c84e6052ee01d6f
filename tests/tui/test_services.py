"""The service functions behind the UI (no Textual): dashboard metrics, reviewer queues,
reveal audit, and the `[tui]` configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from modqueue._exceptions import ConfigError
from modqueue.config import load_config
from modqueue.queue import ReviewQueue, dashboard_metrics, record_reveal, reviewer_queues
from modqueue.tui import TuiConfig
from tests.conftest import Clock
from tests.tui.conftest import events


def test_dashboard_metrics(seeded_queue: ReviewQueue, clock: Clock) -> None:
    first = seeded_queue.claim_next("bob")
    assert first is not None and first.item_id == 1
    clock.advance(seconds=60)
    seeded_queue.decide(first, "restrict-testimonial")
    second = seeded_queue.claim_next("bob")
    assert second is not None and second.item_id == 2
    clock.advance(seconds=120)
    seeded_queue.escalate(second, "credible")
    clock.advance(hours=3)  # doxxing's 2-hour deadline has passed
    third = seeded_queue.claim_next("bob")
    assert third is not None and third.item_id == 3
    clock.advance(seconds=30)
    seeded_queue.decide(third, "remove-personal-info")
    metrics = seeded_queue.run(lambda s: dashboard_metrics(s, now=clock(), window_hours=12))
    by_queue = {q.queue: q for q in metrics.queues}
    smuggling = by_queue["people-smuggling"]
    assert (smuggling.depth, smuggling.claimed) == (1, 0)
    assert smuggling.median_handling_seconds == 60.0
    assert smuggling.decided_series[-4] == 1 and sum(smuggling.decided_series) == 1
    assert smuggling.actions["pending"] == 1
    threats = by_queue["violent-threats"]
    assert threats.escalations == 1 and threats.depth == 0
    assert by_queue["violent-threats:senior"].depth == 1
    doxxing = by_queue["doxxing"]
    assert doxxing.decided_last_hour == 1
    assert doxxing.deadline_breaches == 1  # decided after its deadline
    assert doxxing.median_handling_seconds == 30.0
    assert sum(metrics.decided_series) == 2
    assert metrics.actions["pending"] == 2


def test_reviewer_queues_and_reveal(seeded_queue: ReviewQueue, clock: Clock) -> None:
    claim = seeded_queue.claim_next("bob")
    assert claim is not None
    seeded_queue.escalate(claim, "why")
    queues = seeded_queue.run(lambda s: reviewer_queues(s, now=clock()))
    assert [q.name for q in queues] == [
        "drug-supply",
        "doxxing",
        "people-smuggling",
        "violent-threats",
    ]
    assert all(not q.senior for q in queues)
    lead = seeded_queue.run(lambda s: reviewer_queues(s, now=clock(), include_senior=True))
    assert "people-smuggling:senior" in [q.name for q in lead]
    claim = seeded_queue.claim_next("bob")
    assert claim is not None
    seeded_queue.run(lambda s: record_reveal(s, claim=claim, now=clock(), what="media links"))
    assert events(seeded_queue, "revealed") == [(claim.item_id, {"what": "media links"})]


def test_tui_config_from_toml(tmp_path: Path) -> None:
    path = tmp_path / "modqueue.toml"
    path.write_text(
        '[tui]\nbreak_after_items = 20\nbreak_after_minutes = "1h"\nundo_grace = "45s"\n'
        '[tui.keys]\nskip = "k"\n"decide-1" = "a"\n',
        encoding="utf-8",
    )
    tui = load_config(path).tui
    assert tui == TuiConfig(
        keys={"skip": "k", "decide-1": "a"},
        break_after_items=20,
        break_after_minutes=60.0,
        undo_grace=45.0,
    )
    path.write_text('[tui.keys]\nexplode = "x"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"tui\.keys: .*unknown binding id 'explode'"):
        load_config(path)
    path.write_text('[tui]\nundo_grace = "soon"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"tui\.undo_grace: .*invalid duration"):
        load_config(path)


def test_review_command_refuses_a_bad_config_before_opening_the_ui(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from modqueue.cli import app

    bad = tmp_path / "modqueue.toml"
    bad.write_text('[tui.keys]\nexplode = "x"\n', encoding="utf-8")
    result = CliRunner().invoke(
        app,
        [
            "review",
            "--reviewer",
            "alice",
            "--db",
            f"sqlite:///{tmp_path}/x.db",
            "--config",
            str(bad),
        ],
    )
    assert result.exit_code == 1
    assert "error:" in result.output
    assert "unknown binding id 'explode'" in result.output
    assert not (tmp_path / "x.db").exists()
    help_text = CliRunner().invoke(app, ["review", "--help"]).output
    assert "--lead" in help_text and "--queue" in help_text
