"""Each role allowed and refused at the command line, with real token checks."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from modqueue._exceptions import ModqueueError
from modqueue.cli import app
from modqueue.queue import ReviewQueue
from tests.access.conftest import POLICY, ROLES, Team, add, denials
from tests.conftest import make_item

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
    """The access team on a SQLite file (the CLI layer is the same on both backends)."""
    url = f"sqlite:///{tmp_path}/cli.db"
    with ReviewQueue(url) as q:
        tokens = {"root": add(q, "root", "admin", [], None)}
        for role in ROLES:
            tokens[f"{role}-1"] = add(q, f"{role}-1", role, [POLICY], "root")
        q.enqueue([make_item(1), make_item(3)])
        q.escalate(q.claim(2, "root"), "needs a senior")
        yield Team(q, tokens), url


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
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("operation", sorted(CASES))
def test_cli_role_matrix(cli_team: tuple[Team, str], operation: str, role: str) -> None:
    team, url = cli_team
    who = team.name(role)
    args, allowed = CASES[operation]
    args = [who if a == "WHO" else a for a in args] + ["--db", url]
    code, _out, err = cli(args, MODQUEUE_TOKEN=team.tokens[who])
    if role in allowed:
        assert code == 0, err
        assert denials(team.queue, who) == []
    else:
        assert code == 1
        assert f"reviewer {who!r} (role {role}) may not" in err
        assert len(denials(team.queue, who)) == 1


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
