"""The quality commands end to end on a SQLite file: gold, decide, quality, appeal, export."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from modqueue._exceptions import ConfigError
from modqueue.cli import app
from modqueue.commands.quality import parse_since
from tests.conftest import make_item

runner = CliRunner()


def _ok(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def test_quality_commands_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MODQUEUE_EXPORT_KEY", "cli-test-key-0123456789")
    db = f"sqlite:///{tmp_path}/cli.db"
    (tmp_path / "modqueue.toml").write_text("[quality]\nsecond_review_share = 1.0\n")
    items = tmp_path / "items.jsonl"
    items.write_text("\n".join(json.dumps(make_item(n)) for n in (1, 2)) + "\n")
    _ok("ingest", str(items), "--db", db)
    gold_file = tmp_path / "gold.jsonl"
    gold_file.write_text(
        json.dumps({**make_item(3), "gold_label": "no-violation"})
        + "\n"
        + json.dumps({**make_item(4), "gold_label": "not-a-label"})
        + "\n"
    )
    bad = runner.invoke(app, ["gold", "ingest", str(gold_file), "--db", db])
    assert bad.exit_code == 2
    assert "line 2: gold_label:" in bad.output and "1 gold items" in bad.output
    _ok("gold", "add", "1", "--label", "restrict-testimonial", "--db", db)
    assert json.loads(_ok("gold", "list", "--db", db, "--json")) == [
        {
            "item_id": 1,
            "label": "restrict-testimonial",
            "added_by": "lead",
            "added_at": _any(),
            "note": "",
        },
        {"item_id": 3, "label": "no-violation", "added_by": "lead", "added_at": _any(), "note": ""},
    ]
    # Config share 1.0: the CLI's decide sends item 1 to its second review.
    _ok("decide", "1", "--reviewer", "alice", "--label", "restrict-testimonial", "--db", db)
    out = runner.invoke(
        app, ["decide", "1", "--reviewer", "alice", "--label", "no-violation", "--db", db]
    )
    assert out.exit_code == 1 and "error: " in out.stderr and "other than alice" in out.stderr
    _ok("decide", "1", "--reviewer", "bob", "--label", "restrict-testimonial", "--db", db)
    _ok("decide", "3", "--reviewer", "bob", "--label", "no-violation", "--db", db)
    _ok("decide", "3", "--reviewer", "carol", "--label", "no-violation", "--db", db)
    report = json.loads(_ok("quality", "--db", db, "--json"))
    assert report["agreement"] == {"units": 2, "values": 4.0, "alpha": 1.0, "pairwise": 1.0}
    assert report["gold"] == {
        "alice": {"answered": 1, "correct": 1, "accuracy": 1.0},
        "bob": {"answered": 2, "correct": 2, "accuracy": 1.0},
        "carol": {"answered": 1, "correct": 1, "accuracy": 1.0},
    }
    assert report["second_review"] == {"waiting": 0, "agreed": 2, "disagreed": 0}
    assert "pairwise 1.000" in _ok("quality", "--db", db)
    opened = json.loads(_ok("appeal", "1", "--note", "author disputes", "--db", db, "--json"))
    assert opened["appealed_label"] == "restrict-testimonial"
    assert json.loads(_ok("appeals", "--db", db, "--json", "--status", "open"))[0]["item_id"] == 1
    exported = json.loads(
        _ok("export", "--out", str(tmp_path / "ds"), "--format", "parquet", "--db", db, "--json")
    )
    assert exported["records"] == 2
    rows = [
        r
        for s in ("train", "validation", "test")
        for r in pq.read_table(tmp_path / "ds" / f"{s}.parquet").to_pylist()
    ]
    assert sorted(r["id"] for r in rows) == ["platform-reports:post-1", "platform-reports:post-3"]
    assert "records to" in _ok("export", "--out", str(tmp_path / "j"), "--db", db, "--since", "1d")
    bad_format = runner.invoke(
        app, ["export", "--out", str(tmp_path / "x"), "--format", "csv", "--db", db]
    )
    assert bad_format.exit_code == 1 and "--format: unknown format 'csv'" in bad_format.output
    bad_policy = runner.invoke(
        app, ["export", "--out", str(tmp_path / "x"), "--policy", "nope", "--db", db]
    )
    assert bad_policy.exit_code == 1 and "--policy: unknown policy 'nope'" in bad_policy.output


class _any:  # noqa: N801 - compares equal to anything (timestamps)
    def __eq__(self, other: object) -> bool:
        return True


def test_parse_since() -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    assert parse_since("2026-11-20", now) == datetime(2026, 11, 20, tzinfo=UTC)
    assert parse_since("2026-11-20T08:00:00Z", now) == datetime(2026, 11, 20, 8, tzinfo=UTC)
    assert parse_since("2d", now) == datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
    with pytest.raises(ConfigError, match="--since"):
        parse_since("last tuesday", now)


@pytest.mark.parametrize("section", ["", "[quality]\nsecond_review_share = 1.0\n"])
def test_the_review_ui_and_the_queue_helper_use_the_quality_section(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, section: str
) -> None:
    """`[quality]` in modqueue.toml reaches every command that decides: without it the
    default share holds (10%, `MODQUEUE_SECOND_REVIEW_SHARE`)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "modqueue.toml").write_text(section)
    db = f"sqlite:///{tmp_path}/q.db"
    seen: list[float] = []
    monkeypatch.setattr(
        "modqueue.tui.run_review_app",
        lambda **kw: seen.append(kw["queue"].quality.share_for("people-smuggling")),
    )
    _ok("review", "--reviewer", "alice", "--db", db)
    from modqueue.commands._common import open_queue
    from modqueue.config import load_config

    with open_queue(db, config=load_config(None)) as queue:
        seen.append(queue.quality.share_for("doxxing"))
    expected = 1.0 if section else 0.1
    assert seen == [expected, expected]
