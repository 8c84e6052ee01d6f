"""The command line, end to end, on both backends."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import col, select
from typer.testing import CliRunner

from modqueue.cli import app
from modqueue.guidelines import bundled_guidelines_dir
from modqueue.queue import ContentCluster, Item, ReviewQueue
from tests.conftest import make_item

runner = CliRunner()


def _jsonl(*items: object) -> bytes:
    return b"".join(json.dumps(i).encode() + b"\n" for i in items)


def test_init_is_idempotent(database_url: str) -> None:
    for _ in range(2):
        result = runner.invoke(app, ["init", "--db", database_url])
        assert result.exit_code == 0, result.output
        assert "database ready" in result.output


def test_ingest_reports_each_bad_line_and_keeps_the_good(database_url: str, tmp_path: Path) -> None:
    big = "x" * (8 * 1024 * 1024 + 512 * 1024)  # over the text limit, within the line limit
    data = (
        b"\xef\xbb\xbf"
        + _jsonl(make_item(1))
        + b"\n"  # empty line
        + b'{"source": "s", "external_id": "broken"\n'  # truncated JSON
        + _jsonl({"external_id": "no-source", "text": "t"})
        + _jsonl(make_item(3, views="lots"))
        + _jsonl(make_item(4, text=big))
        + _jsonl(make_item(5, text="nul\x00byte"))
        + b'{"source": "s", "external_id": "bad-utf8", "text": "\xff\xfe"}\n'
        + _jsonl(make_item(2))
        + _jsonl(make_item(9, text="y" * (10 * 1024 * 1024)))
    )
    path = tmp_path / "items.jsonl"
    path.write_bytes(data)
    result = runner.invoke(app, ["ingest", str(path), "--db", database_url])
    assert result.exit_code == 2
    err = result.stderr
    assert "line 3: malformed JSON" in err
    assert "line 4: source: Field required" in err
    assert "line 5: views: Input should be a valid integer" in err
    assert "line 6: text is 8,912,896 bytes, over the 8,388,608-byte limit" in err
    assert "line 7: text contains a NUL character" in err
    assert "line 8: invalid UTF-8 at byte" in err
    assert "line 10: longer than 9,437,184 bytes" in err
    assert "2 new, 0 merged; 7 rejected" in result.stdout
    stats = runner.invoke(app, ["stats", "--json", "--db", database_url])
    assert json.loads(stats.stdout)["pending"] == 2


def test_ingest_strict_stores_nothing_on_error(database_url: str, tmp_path: Path) -> None:
    path = tmp_path / "items.jsonl"
    path.write_bytes(_jsonl(make_item(1), make_item(2)) + b"{oops\n")
    result = runner.invoke(app, ["ingest", "--strict", str(path), "--db", database_url])
    assert result.exit_code == 2
    assert "line 3: malformed JSON" in result.stderr
    assert "nothing stored (--strict)" in result.stdout
    stats = json.loads(runner.invoke(app, ["stats", "--json", "--db", database_url]).stdout)
    assert stats["pending"] == 0
    path.write_bytes(_jsonl(make_item(1), make_item(2)))
    ok = runner.invoke(app, ["ingest", "--strict", str(path), "--db", database_url])
    assert ok.exit_code == 0, ok.output


def test_ingest_from_stdin_merges_on_rerun(database_url: str) -> None:
    data = _jsonl(make_item(1), make_item(2))
    first = runner.invoke(app, ["ingest", "-", "--db", database_url], input=data)
    assert first.exit_code == 0 and "2 new, 0 merged; 0 rejected" in first.stdout
    again = runner.invoke(app, ["ingest", "-", "--db", database_url], input=data)
    assert "0 new, 2 merged; 0 rejected" in again.stdout


def test_claim_decide_stats(database_url: str) -> None:
    runner.invoke(app, ["ingest", "-", "--db", database_url], input=_jsonl(make_item(1)))
    claimed = runner.invoke(app, ["claim", "--reviewer", "alice", "--json", "--db", database_url])
    assert claimed.exit_code == 0, claimed.output
    claim = json.loads(claimed.stdout)
    assert claim["reviewer"] == "alice" and "reporter" not in claim["item"]
    refused = runner.invoke(
        app,
        [
            "decide",
            str(claim["item_id"]),
            "--reviewer",
            "bob",
            "--label",
            "no-violation",
            "--db",
            database_url,
        ],
    )
    assert refused.exit_code == 1
    assert "claimed by another reviewer" in refused.stderr
    unknown = runner.invoke(
        app,
        [
            "decide",
            str(claim["item_id"]),
            "--reviewer",
            "alice",
            "--label",
            "nope",
            "--db",
            database_url,
        ],
    )
    assert unknown.exit_code == 1 and "nope" in unknown.stderr
    decided = runner.invoke(
        app,
        [
            "decide",
            str(claim["item_id"]),
            "--reviewer",
            "alice",
            "--label",
            "remove-ban-refer",
            "--note",
            "clear ad",
            "--json",
            "--db",
            database_url,
        ],
    )
    assert decided.exit_code == 0, decided.output
    assert json.loads(decided.stdout)["action"] == "refer_law_enforcement"
    stats = json.loads(runner.invoke(app, ["stats", "--json", "--db", database_url]).stdout)
    assert {"pending", "claimed", "decided", "escalated", "by_queue"} <= set(stats)
    assert stats["decided"] == 1 and stats["actions"]["pending"] == 1
    empty = runner.invoke(app, ["claim", "--reviewer", "alice", "--db", database_url])
    assert empty.exit_code == 3


def test_guidelines_check_and_show(tmp_path: Path) -> None:
    ok = runner.invoke(app, ["guidelines", "check", str(bundled_guidelines_dir())])
    assert ok.exit_code == 0 and "OK" in ok.stdout
    broken = tmp_path / "g"
    broken.mkdir()
    for doc in bundled_guidelines_dir().glob("*.md"):
        (broken / doc.name).write_text(doc.read_text())
    hate = broken / "hate.md"
    hate.write_text(hate.read_text().replace("severity: 3", "severity: eleven", 1))
    bad = runner.invoke(app, ["guidelines", "check", str(broken)])
    assert bad.exit_code == 1
    assert f"{hate}:" in bad.stderr and "severity" in bad.stderr
    shown = runner.invoke(app, ["guidelines", "show", "people-smuggling", "--json"])
    doc = json.loads(shown.stdout)
    assert doc["id"] == "people-smuggling"
    assert {"id", "title", "hotkey", "action"} <= set(doc["labels"][0])


def test_schema_prints_json_schema() -> None:
    result = runner.invoke(app, ["schema"])
    schema = json.loads(result.stdout)
    assert schema["required"] == ["source", "external_id"]
    assert "reporter" in schema["properties"]


def test_bad_database_url_fails_fast() -> None:
    result = runner.invoke(app, ["stats", "--db", "mysql://x/y"])
    assert result.exit_code != 0
    proc = subprocess.run(
        [sys.executable, "-m", "modqueue.cli", "stats"],
        capture_output=True,
        text=True,
        env={"MODQUEUE_DATABASE_URL": "nonsense", "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 1
    assert "MODQUEUE_DATABASE_URL" in proc.stderr and "no scheme" in proc.stderr


def test_demo_headless_is_idempotent(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/demo.db"
    for _ in range(2):
        result = runner.invoke(app, ["demo", "--headless", "--db", db])
        assert result.exit_code == 0, result.output
    stats = json.loads(runner.invoke(app, ["stats", "--json", "--db", db]).stdout)
    assert stats["pending"] >= 60
    assert {
        "people-smuggling",
        "drug-supply",
        "doxxing",
        "violent-threats",
        "image-abuse",
        "hate",
        "triage",
    } <= set(stats["by_queue"])


def test_demo_shows_clusters_of_copies(tmp_path: Path) -> None:
    """The sample items carry copies: a smuggling advert reposted with another day, price
    or phone number, and a "wanted poster" re-uploaded (PDQ hashes sent by the platform)."""
    db = f"sqlite:///{tmp_path}/demo.db"
    assert runner.invoke(app, ["demo", "--headless", "--db", db]).exit_code == 0
    with ReviewQueue(db, auto_migrate=False) as q:
        clusters = q.read(lambda s: list(s.exec(select(ContentCluster)).all()))
        members = q.read(
            lambda s: {
                i.external_id: i.cluster_id
                for i in s.exec(select(Item).where(col(Item.cluster_id).is_not(None))).all()
            }
        )
    sizes = {c.policy: c.member_count for c in clusters}
    assert sizes == {"people-smuggling": 4, "doxxing": 3}
    assert members["post-8812"] == members["post-8871"] == members["post-8872"]
    assert members["post-3301"] == members["post-3303"] == members["post-3304"]


def test_demo_looks_like_a_live_desk_on_first_run(tmp_path: Path) -> None:
    """Sample items are flagged relative to now: some near their deadline, none past."""
    db = f"sqlite:///{tmp_path}/demo.db"
    result = runner.invoke(app, ["demo", "--headless", "--db", db])
    assert result.exit_code == 0, result.output
    assert "past deadline 0" in result.output
    with ReviewQueue(db, auto_migrate=False) as q:
        now = q.clock()
        items = q.read(lambda s: list(s.exec(select(Item)).all()))
        sla = {g.id: timedelta(hours=g.sla_hours) for g in q.guidelines}
    assert len(items) >= 60
    near = [i for i in items if i.deadline_at - now < sla[i.queue] / 4]
    assert all(i.deadline_at > now for i in items)
    assert 1 <= len(near) <= len(items) // 5
    assert all(now - i.flagged_at < sla[i.queue] for i in items if i.flagged_at)
    stats = json.loads(runner.invoke(app, ["stats", "--json", "--db", db]).stdout)
    assert stats["past_deadline"] == 0
    for queue in stats["by_queue"].values():  # both clocks: the flag's and ingest's
        assert queue["oldest_flagged_seconds"] > queue["oldest_pending_seconds"] >= 0


@pytest.mark.parametrize("args", [["--help"], ["guidelines", "--help"]])
def test_help(args: list[str]) -> None:
    assert runner.invoke(app, args).exit_code == 0
