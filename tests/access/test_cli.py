"""Each role allowed and refused at the command line, with real token checks."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from modqueue._exceptions import ModqueueError
from modqueue.cli import app
from modqueue.quality import add_gold
from modqueue.queue import ReviewQueue
from modqueue.tui.app import ReviewApp
from modqueue.tui.components import ItemCard
from modqueue.tui.screens import DashboardScreen, ReviewScreen
from tests.access.conftest import POLICY, ROLES, Team, add, denials
from tests.conftest import make_item
from tests.tui.conftest import SIZE, settle

runner = CliRunner()


def cli(args: list[str], **env: str) -> tuple[int, str, str]:
    """`(exit code, stdout, stderr)` as `modqueue` would give them (errors exit 1)."""
    result = runner.invoke(app, args, env=env)
    if isinstance(result.exception, ModqueueError):
        return 1, result.stdout, f"error: {result.exception}"
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def cli_team(tmp_path: Path) -> Iterator[tuple[Team, str]]:
    """The access team on a SQLite file (the CLI layer is the same on both backends):
    item 1 pending, item 2 escalated to the senior queue, item 3 decided by root and
    gold."""
    url = f"sqlite:///{tmp_path}/cli.db"
    with ReviewQueue(url) as q:
        tokens = {"root": add(q, "root", "admin", [], None)}
        for role in ROLES:
            tokens[f"{role}-1"] = add(q, f"{role}-1", role, [POLICY], "root")
        q.enqueue([make_item(1), make_item(3), make_item(4)])
        q.escalate(q.claim(2, "root"), "needs a senior")
        q.decide(q.claim(3, "root"), "no-violation")
        q.run(
            lambda s: add_gold(
                s,
                item_id=3,
                label="no-violation",
                actor="root",
                guidelines=q.guidelines,
                now=q.clock(),
            )
        )
        (tmp_path / "gold.jsonl").write_text(
            json.dumps({**make_item(5), "gold_label": "no-violation"}) + "\n", encoding="utf-8"
        )
        yield Team(q, tokens), url


@pytest.fixture
def ui_calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """What `modqueue review` and `modqueue demo` asked the terminal UI to open (the UI
    itself does not run)."""
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr("modqueue.tui.run_review_app", lambda **kwargs: calls.append(kwargs))
    return calls


# operation -> (arguments, the roles allowed); WHO is replaced by the acting reviewer
CASES = {
    "claim": (["claim", "--reviewer", "WHO"], set(ROLES)),
    "claim_senior_queue": (
        ["claim", "--reviewer", "WHO", "--queue", f"{POLICY}:senior"],
        {"senior", "lead", "admin"},
    ),
    "decide_senior_item": (
        ["decide", "2", "--reviewer", "WHO", "--label", "no-violation"],
        {"senior", "lead", "admin"},
    ),
    "reviewers_list": (["reviewers", "list", "--reviewer", "WHO"], {"lead", "admin"}),
    "reviewers_add": (
        ["reviewers", "add", "newcomer", "--policy", POLICY, "--reviewer", "WHO"],
        {"admin"},
    ),
    "reviewers_grant": (
        ["reviewers", "grant", "reviewer-1", "--policy", "doxxing", "--reviewer", "WHO"],
        {"admin"},
    ),
    "reviewers_disable": (["reviewers", "disable", "senior-1", "--reviewer", "WHO"], {"admin"}),
    "reviewers_link": (
        [
            "reviewers",
            "link",
            "reviewer-1",
            "--labelstudio-email",
            "R1@x.test",
            "--reviewer",
            "WHO",
        ],
        {"admin"},
    ),
    "reviewers_unlink": (
        ["reviewers", "link", "lead-1", "--unlink", "--reviewer", "WHO"],
        {"admin"},
    ),
    "audit_log": (["audit", "log", "--as", "WHO"], {"lead", "admin"}),
    "review": (["review", "--reviewer", "WHO", "--queue", POLICY], set(ROLES)),
    "review_pick": (["review", "--reviewer", "WHO"], set(ROLES)),
    "review_senior_queue": (
        ["review", "--reviewer", "WHO", "--queue", f"{POLICY}:senior"],
        {"senior", "lead", "admin"},
    ),
    "review_lead_dashboard": (["review", "--reviewer", "WHO", "--lead"], {"lead", "admin"}),
    "quality_full": (["quality", "--reviewer", "WHO"], {"lead", "admin"}),
    "quality_aggregate": (["quality", "--reviewer", "WHO", "--aggregate-only"], set(ROLES)),
    "gold_add": (
        ["gold", "add", "1", "--label", "no-violation", "--reviewer", "WHO"],
        {"lead", "admin"},
    ),
    "gold_remove": (["gold", "remove", "3", "--reviewer", "WHO"], {"lead", "admin"}),
    "gold_list": (["gold", "list", "--reviewer", "WHO"], {"lead", "admin"}),
    "gold_ingest": (["gold", "ingest", "GOLDFILE", "--reviewer", "WHO"], {"lead", "admin"}),
    "appeal": (["appeal", "3", "--note", "author disputes", "--reviewer", "WHO"], set(ROLES)),
    "appeals_list": (["appeals", "--reviewer", "WHO"], {"lead", "admin"}),
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("operation", sorted(CASES))
def test_cli_role_matrix(
    cli_team: tuple[Team, str],
    ui_calls: list[dict[str, Any]],
    tmp_path: Path,
    operation: str,
    role: str,
) -> None:
    team, url = cli_team
    who = team.name(role)
    args, allowed = CASES[operation]
    place = {"WHO": who, "GOLDFILE": str(tmp_path / "gold.jsonl")}
    args = [place.get(a, a) for a in args] + ["--db", url]
    code, _out, err = cli(args, MODQUEUE_TOKEN=team.tokens[who])
    if role in allowed:
        assert code == 0, err
        assert denials(team.queue, who) == []
        assert len(ui_calls) == (args[0] == "review")
    else:
        assert code == 1
        assert f"reviewer {who!r} (role {role}) may not" in err
        assert len(denials(team.queue, who)) == 1
        assert ui_calls == []  # refused before any UI opens


def test_review_verifies_the_token_before_the_ui_opens(
    cli_team: tuple[Team, str], ui_calls: list[dict[str, Any]]
) -> None:
    team, url = cli_team
    base = ["review", "--reviewer", "lead-1", "--db", url]
    code, _, err = cli(base)
    assert code == 1 and "'lead-1' needs a token: pass --token" in err
    code, _, err = cli([*base, "--token", "mq_" + "n" * 43])
    assert code == 1 and err.strip() == "error: the token given for reviewer 'lead-1' is not valid"
    code, _, err = cli(["review", "--reviewer", "lead-1", "--db", url], MODQUEUE_TOKEN="mq_x")
    assert code == 1 and "not valid" in err
    assert ui_calls == []
    assert len(_events(team.queue, "lead-1", "authentication_failed")) == 3
    code, _, err = cli([*base, "--lead", "--token", team.tokens["lead-1"]])
    assert code == 0, err
    [call] = ui_calls
    assert (call["reviewer"], call["mode"], call["queues"]) == ("lead-1", "lead", None)
    code, _, err = cli(
        [*base, "--queue", POLICY, "--queue", "doxxing"], MODQUEUE_TOKEN=team.tokens["lead-1"]
    )
    assert code == 1 and "not granted policy 'doxxing'" in err
    assert len(ui_calls) == 1


def test_review_in_os_user_mode(
    cli_team: tuple[Team, str], ui_calls: list[dict[str, Any]], tmp_path: Path
) -> None:
    _team, url = cli_team
    config = tmp_path / "modqueue.toml"
    config.write_text('[auth]\nmode = "os"\n', encoding="utf-8")
    base = ["review", "--db", url, "--config", str(config)]
    code, _, err = cli([*base, "--reviewer", "senior-1"], LOGNAME="lead-1", USER="lead-1")
    assert code == 1 and "does not match the operating-system user 'lead-1'" in err
    code, _, err = cli([*base, "--reviewer", "lead-1", "--lead"], LOGNAME="lead-1", USER="lead-1")
    assert code == 0, err
    assert [c["reviewer"] for c in ui_calls] == ["lead-1"]


def _events(q: ReviewQueue, actor: str, name: str) -> list[Any]:
    from sqlalchemy import select
    from sqlmodel import col

    from modqueue.queue import AuditEvent

    with q.session() as s:
        return list(
            s.scalars(
                select(AuditEvent).where(
                    col(AuditEvent.actor) == actor, col(AuditEvent.event) == name
                )
            )
        )


def _pilot(check: Any) -> Any:
    """A `run_review_app` that runs the real app under Textual's pilot and hands it to
    `check(app, pilot)` instead of taking over the terminal."""

    def run(**kwargs: Any) -> None:
        app = ReviewApp(**kwargs)

        async def drive() -> None:
            async with app.run_test(size=SIZE) as pilot:
                await settle(app, pilot)
                await check(app, pilot)

        asyncio.run(drive())

    return run


def test_review_opens_the_real_ui_for_the_verified_reviewer(
    cli_team: tuple[Team, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    team, url = cli_team
    seen: list[object] = []

    async def on_dashboard(app: ReviewApp, pilot: Any) -> None:
        screen = app.screen
        assert isinstance(screen, DashboardScreen) and screen.refused is None
        assert screen.metrics is not None
        seen.append(app.sub_title)
        await pilot.press("q")

    monkeypatch.setattr("modqueue.tui.run_review_app", _pilot(on_dashboard))
    code, _, err = cli(
        ["review", "--reviewer", "lead-1", "--lead", "--db", url],
        MODQUEUE_TOKEN=team.tokens["lead-1"],
    )
    assert code == 0, err
    assert seen == ["reviewer lead-1"]

    async def on_review(app: ReviewApp, pilot: Any) -> None:
        assert isinstance(app.screen, ReviewScreen)
        seen.append(app.screen.query_one(ItemCard).shown_item_id)
        await pilot.press("q")
        await settle(app, pilot)

    monkeypatch.setattr("modqueue.tui.run_review_app", _pilot(on_review))
    code, _, err = cli(
        ["review", "--reviewer", "reviewer-1", "--queue", POLICY, "--db", url],
        MODQUEUE_TOKEN=team.tokens["reviewer-1"],
    )
    assert code == 0, err
    assert seen[-1] == 1
    assert team.queue.get_item(1).status == "pending"  # given back on quit


def test_demo_needs_no_token_in_open_mode(
    tmp_path: Path, ui_calls: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path}/demo.db"
    code, _, err = cli(["demo", "--db", url])
    assert code == 0, err
    assert [c["reviewer"] for c in ui_calls] == ["demo-reviewer"]
    with ReviewQueue(url) as q:
        token = add(q, "boss", "admin", [], None)
    code, _, err = cli(["demo", "--db", url])  # reviewers registered: verified like review
    assert code == 1 and "'demo-reviewer' is not registered" in err
    code, _, err = cli(["demo", "--db", url, "--reviewer", "boss"], MODQUEUE_TOKEN=token)
    assert code == 0, err
    assert [c["reviewer"] for c in ui_calls] == ["demo-reviewer", "boss"]


def test_quality_commands_in_enforced_mode(cli_team: tuple[Team, str]) -> None:
    team, url = cli_team
    env = {"MODQUEUE_TOKEN": team.tokens["senior-1"]}
    code, _, err = cli(["quality", "--reviewer", "senior-1", "--db", url], **env)
    assert code == 1 and "--aggregate-only" in err
    code, out, err = cli(
        ["quality", "--reviewer", "senior-1", "--aggregate-only", "--db", url, "--json"], **env
    )
    assert code == 0, err
    report = json.loads(out)
    assert report["scope"] == "aggregate" and "gold" not in report and "pairs" not in report
    code, out, _ = cli(
        ["quality", "--reviewer", "lead-1", "--db", url, "--json"],
        MODQUEUE_TOKEN=team.tokens["lead-1"],
    )
    assert code == 0 and json.loads(out)["gold"] == {
        "root": {"answered": 1, "correct": 1, "accuracy": 1.0}
    }
    code, out, _ = cli(
        ["quality", "--reviewer", "lead-1", "--db", url], MODQUEUE_TOKEN=team.tokens["lead-1"]
    )
    assert code == 0 and "gold root: 1/1 (100.0%)" in out
    # --by is not an identity once reviewers exist: a lead's name without a token is refused.
    code, _, err = cli(["gold", "list", "--db", url])
    assert (
        code == 1
        and "managing or listing gold items needs a registered reviewer: pass --reviewer" in err
    )
    code, _, err = cli(
        ["gold", "add", "1", "--label", "no-violation", "--by", "lead-1", "--db", url]
    )
    assert code == 1 and "managing or listing gold items needs a registered reviewer" in err
    code, _, err = cli(["appeal", "3", "--note", "x", "--by", "lead-1", "--db", url])
    assert code == 1 and "opening an appeal needs a registered reviewer" in err
    code, _, err = cli(["quality", "--aggregate-only", "--db", url])
    assert code == 1 and "registered reviewer" in err
    assert len(denials(team.queue, "(unidentified)")) == 4
    code, _, err = cli(
        ["gold", "list", "--reviewer", "lead-1", "--db", url], MODQUEUE_TOKEN="mq_wrong"
    )
    assert code == 1 and "not valid" in err


def test_refused_gold_ingest_stores_nothing(cli_team: tuple[Team, str], tmp_path: Path) -> None:
    team, url = cli_team
    before = team.queue.stats()
    code, _, err = cli(
        ["gold", "ingest", str(tmp_path / "gold.jsonl"), "--reviewer", "senior-1", "--db", url],
        MODQUEUE_TOKEN=team.tokens["senior-1"],
    )
    assert code == 1 and "may not manage or list gold items" in err
    after = team.queue.stats()
    counts = ("pending", "claimed", "decided")  # ages move with the wall clock
    assert {n: [q[k] for k in counts] for n, q in after["by_queue"].items()} == {
        n: [q[k] for k in counts] for n, q in before["by_queue"].items()
    }  # item 5 was not ingested


def test_wrong_or_missing_token_is_refused(cli_team: tuple[Team, str]) -> None:
    team, url = cli_team
    code, _, err = cli(["claim", "--reviewer", "lead-1", "--db", url])
    assert code == 1 and "needs a token" in err
    code, _, err = cli(["claim", "--reviewer", "lead-1", "--token", "mq_nope", "--db", url])
    assert code == 1 and "not valid" in err
    code, out, _ = cli(
        ["claim", "--reviewer", "lead-1", "--token", team.tokens["lead-1"], "--db", url, "--json"]
    )
    assert code == 0 and json.loads(out)["reviewer"] == "lead-1"


def test_os_user_mode(cli_team: tuple[Team, str], tmp_path: Path) -> None:
    _team, url = cli_team
    config = tmp_path / "modqueue.toml"
    config.write_text('[auth]\nmode = "os"\n', encoding="utf-8")
    base = ["--db", url, "--config", str(config)]
    code, out, _ = cli(["claim", "--reviewer", "lead-1", *base], LOGNAME="lead-1", USER="lead-1")
    assert code == 0 and "item 1" in out
    code, _, err = cli(["claim", "--reviewer", "lead-1", *base], LOGNAME="root", USER="root")
    assert code == 1 and "does not match the operating-system user 'root'" in err
    code, out, _ = cli(["reviewers", "list", *base], LOGNAME="root", USER="root")
    assert code == 0 and "lead-1: role lead" in out


def test_first_reviewer_token_is_shown_once_and_stats_warn(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/new.db"
    code, _, err = cli(["stats", "--db", url])
    assert code == 0 and "open mode" in err and "first reviewer" in err
    code, _, err = cli(["reviewers", "add", "bob", "--db", url])
    assert code == 1 and "first reviewer must be an admin" in err
    code, out, _ = cli(["reviewers", "add", "boss", "--role", "admin", "--db", url, "--json"])
    assert code == 0
    token = json.loads(out)["token"]
    code, out, err = cli(
        ["reviewers", "list", "--reviewer", "boss", "--db", url], MODQUEUE_TOKEN=token
    )
    assert code == 0 and "boss: role admin, policies *, pseudonym rv-" in out
    assert token not in out
    code, _, err = cli(["stats", "--db", url])
    assert "open mode" not in err


def test_audit_commands(cli_team: tuple[Team, str]) -> None:
    team, url = cli_team
    code, out, _ = cli(["audit", "verify", "--db", url])
    assert code == 0 and out.startswith("audit chain ok")
    heads = [line.removeprefix("head ") for line in out.splitlines() if line.startswith("head ")]
    assert heads, out
    anchors = [a for head in heads for a in ("--anchor", head)]
    code, _, err = cli(["audit", "verify", *anchors, "--db", url])
    assert code == 0, err
    code, _, err = cli(["audit", "verify", "--anchor", "12x", "--db", url])
    assert code == 1 and "--anchor '12x': use ID:HASH" in err
    code, out, _ = cli(
        [
            "audit",
            "log",
            "--item",
            "2",
            "--reviewer",
            "root",
            "--json",
            "--as",
            "lead-1",
            "--db",
            url,
        ],
        MODQUEUE_TOKEN=team.tokens["lead-1"],
    )
    assert code == 0
    assert [e["event"] for e in json.loads(out)] == ["claimed", "escalated"]
    code, _, err = cli(["audit", "verify", "--anchor", "1:" + "0" * 64, "--db", url])
    assert code == 2 and "broken at event 1" in err


def test_real_command_line_error_and_exit_code(cli_team: tuple[Team, str]) -> None:
    _team, url = cli_team
    wrong = "mq_" + "y" * 43
    done = subprocess.run(
        [sys.executable, "-m", "modqueue.cli", "claim", "--reviewer", "lead-1", "--db", url],
        capture_output=True,
        text=True,
        env={"MODQUEUE_TOKEN": wrong, "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.strip() == "error: the token given for reviewer 'lead-1' is not valid"
    assert wrong not in done.stdout + done.stderr
