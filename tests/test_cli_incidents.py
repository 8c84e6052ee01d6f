"""`modqueue incidents` end to end on both backends: a reporter flood folds at ingest
(`[floods]` from the configuration file), the lead lists, shows, mutes, marks a source
unreliable and dismisses. The file sets a small `[floods]` threshold: the test is about
folding; the other product defaults stay."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from modqueue.cli import app
from tests.conftest import make_item

runner = CliRunner()


def _run(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_incidents_from_ingest_to_dismissal(database_url: str, tmp_path: Path) -> None:
    config = tmp_path / "modqueue.toml"
    config.write_text('[floods]\nwindow = "2h"\nreporter = 2\nsource = 0\n')
    items = tmp_path / "items.jsonl"
    items.write_text(
        "".join(json.dumps(make_item(n, reporter={"id": "bot-7"})) + "\n" for n in (1, 2, 3))
        + json.dumps(make_item(4, reporter={"id": "quiet"}))
        + "\n"
    )
    common = ("--db", database_url, "--config", str(config))
    _run("ingest", str(items), *common)
    listed = _run("incidents", "list", *common)
    assert "open" in listed and "reporter" in listed and "bot-7" in listed
    shown = json.loads(_run("incidents", "show", "1", *common, "--json"))
    assert shown["by_status"] == {"folded": 3} and shown["key"] == "bot-7"
    muted = _run("incidents", "mute-reporter", "quiet", "--reason", "spam", *common)
    assert "reporter quiet muted; 1 item(s) folded into incident 2" in muted
    flaky = _run("incidents", "unreliable-source", "smuggling-clf-v2", *common)
    assert "marked unreliable (weight 0.25); 4 waiting item(s) rescored" in flaky
    dismissed = _run("incidents", "dismiss", "1", *common)
    assert "incident 1 dismissed: 3 item(s) back" in dismissed
    again = runner.invoke(app, ["incidents", "dismiss", "1", *common])
    assert again.exit_code == 1 and "incident 1 is dismissed, not open" in again.output
    missing = runner.invoke(app, ["incidents", "show", "99", *common])
    assert missing.exit_code == 1 and "incident 99 does not exist" in missing.output
    decided = json.loads(
        _run("incidents", "decide", "2", "--label", "no-violation", *common, "--json")
    )
    assert decided["decided"] + decided["second_review"] == [4]
    rows = json.loads(_run("incidents", "list", *common, "--json"))
    assert [(r["id"], r["status"], r["rule"], r["label"]) for r in rows] == [
        (2, "decided", "muted", "no-violation"),
        (1, "dismissed", None, None),
    ]
