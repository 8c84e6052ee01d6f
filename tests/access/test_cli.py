"""Each role allowed and refused at the command line, with real token checks.

Every command runs through the real Typer app (`modqueue.cli.app`), so what is tested is
the CLI's own error handling: the exit status and the `error: ...` line on stderr; one
test runs `python -m modqueue.cli` as a subprocess for `main()` itself.
"""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import col
from typer.testing import CliRunner, Result

from modqueue.cli import app
from modqueue.quality import add_gold
from modqueue.queue import AuditEvent, ReviewQueue
from modqueue.tui.app import ReviewApp
from modqueue.tui.components import ItemCard
from modqueue.tui.screens import DashboardScreen, ReviewScreen
from tests.access.conftest import OFF_LADDER, POLICY, ROLES, Team, add, denials
from tests.conftest import make_item
from tests.tui.conftest import SIZE, settle

runner = CliRunner()
NO_LABEL_STUDIO = {"LABEL_STUDIO_URL": "", "LABEL_STUDIO_API_KEY": ""}


def invoke(args: list[str], **env: str) -> Result:
    """Run `modqueue ARGS` through the real Typer app. Any exception other than the
    CLI's own exit is a bug of the CLI (an error it did not turn into a message)."""
    result = runner.invoke(app, args, env={**NO_LABEL_STUDIO, **env})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"modqueue {' '.join(args)} raised") from result.exception
    return result


def cli(args: list[str], **env: str) -> tuple[int, str, str]:
    """`(exit status, stdout, stderr)` of `modqueue ARGS`."""
    result = invoke(args, **env)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def cli_team(database_url: str, tmp_path: Path) -> Iterator[tuple[Team, str]]:
    """The access team, plus `ml-1` and `service-1`, on each backend: item 1 pending,
    item 2 escalated to the senior queue, item 3 decided by root and gold.
    `tmp_path` holds gold.jsonl, items.jsonl and a modqueue.toml with a platform."""
    url = database_url
    with ReviewQueue(url) as q:
        tokens = {"root": add(q, "root", "admin", [], None)}
        for role in ROLES:
            tokens[f"{role}-1"] = add(q, f"{role}-1", role, [POLICY], "root")
        for role in OFF_LADDER:
            tokens[f"{role}-1"] = add(q, f"{role}-1", role, [], "root")
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
        (tmp_path / "items.jsonl").write_text(json.dumps(make_item(6)) + "\n", encoding="utf-8")
        (tmp_path / "modqueue.toml").write_text(
            "[platforms.platform-reports]\n"
            'action_url = "http://127.0.0.1:9/actions"\n'
            'secret_env = "MODQUEUE_TEST_PLATFORM_SECRET"\n',
            encoding="utf-8",
        )
        yield Team(q, tokens), url


@pytest.fixture(autouse=True)
def _logging_restored() -> Iterator[None]:
    """`modqueue serve` run in-process installs its own log handler on the root logger,
    bound to the runner's captured stderr: put back what was there for later tests."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    ours = logging.getLogger("modqueue").level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("modqueue").setLevel(ours)


@pytest.fixture
def ui_calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """What `modqueue review` and `modqueue demo` asked the terminal UI to open (the UI
    itself does not run)."""
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr("modqueue.tui.run_review_app", lambda **kwargs: calls.append(kwargs))
    return calls


LADDER = set(ROLES)
SENIORS = {"senior", "lead", "admin"}
LEADS = {"lead", "admin"}
LS_UNSET = "LABEL_STUDIO_URL is not set"  # an allowed Label Studio command got this far

# (operation, arguments, the roles allowed, the permission a refusal names, what an
# allowed run prints to stderr when it cannot finish for another reason). WHO is the
# acting reviewer, GOLDFILE, ITEMS, OUT and CONFIG files in tmp_path. In the order run:
# every later operation still finds what it needs after the earlier ones.
MATRIX: list[tuple[str, list[str], set[str], str, str | None]] = [
    ("stats", ["stats", "--reviewer", "WHO"], LADDER, "view_stats", None),
    (
        "quality_aggregate",
        ["quality", "--aggregate-only", "--reviewer", "WHO"],
        LADDER | {"ml"},
        "view_quality",
        None,
    ),
    ("quality_full", ["quality", "--reviewer", "WHO"], LEADS, "view_reviewer_figures", None),
    ("appeals_list", ["appeals", "--reviewer", "WHO"], LEADS, "view_reviewer_figures", None),
    (
        "reviewers_list",
        ["reviewers", "list", "--reviewer", "WHO"],
        LEADS,
        "view_reviewer_figures",
        None,
    ),
    ("audit_log", ["audit", "log", "--as", "WHO"], LEADS, "view_audit", None),
    ("actions_list", ["actions", "list", "--reviewer", "WHO"], LEADS, "view_actions", None),
    (
        "actions_retry",
        ["actions", "retry", "--failed", "--reviewer", "WHO"],
        LEADS,
        "retry_actions",
        None,
    ),
    ("export", ["export", "--out", "OUT", "--reviewer", "WHO"], LEADS | {"ml"}, "export", None),
    ("gold_list", ["gold", "list", "--reviewer", "WHO"], LEADS, "manage_gold", None),
    (
        "gold_add",
        ["gold", "add", "1", "--label", "no-violation", "--reviewer", "WHO"],
        LEADS,
        "manage_gold",
        None,
    ),
    ("gold_remove", ["gold", "remove", "3", "--reviewer", "WHO"], LEADS, "manage_gold", None),
    (
        "gold_ingest",
        ["gold", "ingest", "GOLDFILE", "--reviewer", "WHO"],
        LEADS,
        "manage_gold",
        None,
    ),
    ("ingest", ["ingest", "ITEMS", "--reviewer", "WHO"], LEADS | {"service"}, "ingest", None),
    (
        "labelstudio_setup",
        ["labelstudio", "setup", "--policy", POLICY, "--reviewer", "WHO"],
        LEADS,
        "setup_labelstudio",
        LS_UNSET,
    ),
    (
        "labelstudio_push",
        ["labelstudio", "push", "--reviewer", "WHO"],
        LEADS | {"service"},
        "sync_labelstudio",
        LS_UNSET,
    ),
    (
        "labelstudio_pull",
        ["labelstudio", "pull", "--reviewer", "WHO"],
        LEADS | {"service"},
        "sync_labelstudio",
        LS_UNSET,
    ),
    ("review", ["review", "--reviewer", "WHO", "--queue", POLICY], LADDER, "claim", None),
    ("review_pick", ["review", "--reviewer", "WHO"], LADDER, "claim", None),
    (
        "review_senior_queue",
        ["review", "--reviewer", "WHO", "--queue", f"{POLICY}:senior"],
        SENIORS,
        "claim",
        None,
    ),
    (
        "review_lead_dashboard",
        ["review", "--reviewer", "WHO", "--lead"],
        LEADS,
        "view_dashboard",
        None,
    ),
    ("claim", ["claim", "--reviewer", "WHO", "--queue", POLICY], LADDER, "claim", None),
    (
        "claim_senior_queue",
        ["claim", "--reviewer", "WHO", "--queue", f"{POLICY}:senior"],
        SENIORS,
        "claim",
        None,
    ),
    (
        "decide_senior_item",
        ["decide", "2", "--reviewer", "WHO", "--label", "no-violation"],
        SENIORS,
        "claim",  # decide claims the item first
        None,
    ),
    (
        "appeal",
        ["appeal", "3", "--note", "author disputes", "--reviewer", "WHO"],
        LADDER,
        "appeal",
        None,
    ),
    (
        "reviewers_add",
        ["reviewers", "add", "newcomer", "--policy", POLICY, "--reviewer", "WHO"],
        {"admin"},
        "manage_reviewers",
        None,
    ),
    (
        "reviewers_grant",
        ["reviewers", "grant", "reviewer-1", "--policy", "doxxing", "--reviewer", "WHO"],
        {"admin"},
        "manage_reviewers",
        None,
    ),
    (
        "reviewers_link",
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
        "manage_reviewers",
        None,
    ),
    (
        "reviewers_unlink",
        ["reviewers", "link", "lead-1", "--unlink", "--reviewer", "WHO"],
        {"admin"},
        "manage_reviewers",
        None,
    ),
    (
        "reviewers_reset_token",
        ["reviewers", "reset-token", "senior-1", "--reviewer", "WHO"],
        {"admin"},
        "manage_reviewers",
        None,
    ),
    (
        "reviewers_disable",
        ["reviewers", "disable", "senior-1", "--reviewer", "WHO"],
        {"admin"},
        "manage_reviewers",
        None,
    ),
    ("serve", ["serve", "--once", "--service", "WHO"], {"service"}, "run_service", None),
    (
        "actions_dispatch",
        ["actions", "dispatch", "--once", "--service", "WHO"],
        {"service"},
        "run_service",
        None,
    ),
]


def _args(args: list[str], who: str | None, url: str, tmp_path: Path, role: str) -> list[str]:
    place = {
        "GOLDFILE": str(tmp_path / "gold.jsonl"),
        "ITEMS": str(tmp_path / "items.jsonl"),
        "OUT": str(tmp_path / f"export-{role}"),
    }
    out: list[str] = []
    for i, a in enumerate(args):
        if a == "WHO":
            if who is not None:
                out.append(who)
        elif a.startswith("--") and i + 1 < len(args) and args[i + 1] == "WHO" and who is None:
            continue  # no identity at all: leave the flag out too
        else:
            out.append(place.get(a, a))
    return [*out, "--db", url, "--config", str(tmp_path / "modqueue.toml")]


def _denials_of(q: ReviewQueue, actor: str) -> list[AuditEvent]:
    return sorted(denials(q, actor), key=lambda e: e.id or 0)


@pytest.mark.parametrize("role", ROLES + OFF_LADDER)
def test_cli_role_matrix(
    cli_team: tuple[Team, str], ui_calls: list[dict[str, Any]], tmp_path: Path, role: str
) -> None:
    """Every command of the matrix, as one member of each role: allowed, or refused with
    `error: ...`, exit status 1 and an `access_denied` event naming the actor, the
    permission and the reason; a refused `review` opens no UI."""
    team, url = cli_team
    who = team.name(role)
    problems: list[str] = []
    for operation, args, allowed, permission, blocked in MATRIX:
        before = len(_denials_of(team.queue, who))
        opened = len(ui_calls)
        code, _out, err = cli(
            _args(args, who, url, tmp_path, role), MODQUEUE_TOKEN=team.tokens[who]
        )
        new = _denials_of(team.queue, who)[before:]
        if role in allowed:
            finished = code == 0 if blocked is None else (code == 1 and blocked in err)
            if not finished or new:
                problems.append(f"{operation}: allowed for {role}, got {code}: {err.strip()}")
            if len(ui_calls) - opened != (args[0] == "review"):
                problems.append(f"{operation}: the UI opened {len(ui_calls) - opened} times")
            continue
        reason = err.strip().removeprefix("error: ")
        if code != 1 or not err.startswith("error: ") or f"(role {role}) may not" not in err:
            problems.append(f"{operation}: refused for {role}, got {code}: {err.strip()}")
        if len(ui_calls) != opened:
            problems.append(f"{operation}: a UI opened behind a refusal")
        if len(new) != 1:
            problems.append(f"{operation}: {len(new)} access_denied events, not 1")
            continue
        [event] = new
        assert event.detail is not None
        if (event.actor, event.detail.get("permission"), event.detail.get("reason")) != (
            who,
            permission,
            reason,
        ):
            problems.append(f"{operation}: audited as {event.actor} {event.detail}")
    assert problems == [], "\n".join(problems)


def test_every_command_refuses_an_unidentified_caller(
    cli_team: tuple[Team, str], ui_calls: list[dict[str, Any]], tmp_path: Path
) -> None:
    """Once reviewers are registered, a command without `--reviewer` (or `--as`,
    `--service`) is refused, and the refusal is audited as `(unidentified)` with the
    permission it needed."""
    team, url = cli_team
    problems: list[str] = []
    for operation, args, _allowed, permission, _blocked in MATRIX:
        before = len(_denials_of(team.queue, "(unidentified)"))
        code, _out, err = cli(_args(args, None, url, tmp_path, "nobody"))
        new = _denials_of(team.queue, "(unidentified)")[before:]
        if code != 1 or "registered reviewer" not in err:
            problems.append(f"{operation}: got {code}: {err.strip()}")
        details = [e.detail or {} for e in new]
        if operation == "decide_senior_item":
            permission = "decide"  # refused before the claim that an identified caller gets
        if [d.get("permission") for d in details] != [permission]:
            problems.append(f"{operation}: audited {details}")
    assert problems == [], "\n".join(problems)
    assert ui_calls == []


def test_ml_role_exports_and_reads_aggregate_quality_only(
    cli_team: tuple[Team, str], tmp_path: Path
) -> None:
    """The ML team's role: the export (pseudonymous, no reporter data) and the aggregate
    quality report; nothing per reviewer, no queue work."""
    team, url = cli_team
    env = {"MODQUEUE_TOKEN": team.tokens["ml-1"]}
    base = ["--reviewer", "ml-1", "--db", url]
    out_dir = tmp_path / "ml-export"
    code, out, err = cli(["export", "--out", str(out_dir), *base, "--json"], **env)
    assert code == 0, err
    assert json.loads(out)["records"] == 1
    exported = "".join(p.read_text(encoding="utf-8") for p in out_dir.rglob("*.jsonl"))
    assert "root" not in exported and "reporter" not in exported
    code, out, err = cli(["quality", "--aggregate-only", *base, "--json"], **env)
    assert code == 0 and json.loads(out)["scope"] == "aggregate"
    code, _, err = cli(["quality", *base], **env)
    assert code == 1 and "may not see per-reviewer figures" in err
    code, _, err = cli(["claim", *base], **env)
    assert code == 1 and "(role ml) may not claim items: that needs role reviewer" in err
    assert team.queue.get_item(1).status == "pending"


def test_service_identity_runs_serve_and_is_named_in_what_jobs_write(
    cli_team: tuple[Team, str], tmp_path: Path
) -> None:
    """`modqueue serve` runs as the verified service identity, and every audit event its
    jobs write names it; a wrong token or a non-service role is refused before any job."""
    team, url = cli_team
    base = ["serve", "--once", "--db", url, "--config", str(tmp_path / "modqueue.toml")]
    code, _, err = cli([*base, "--service", "service-1"], MODQUEUE_TOKEN="mq_wrong")
    assert code == 1 and "not valid" in err
    code, _, err = cli([*base, "--service", "admin-1"], MODQUEUE_TOKEN=team.tokens["admin-1"])
    assert code == 1 and "may not run a service process" in err
    # An abandoned claim whose lease ran out an hour ago: the leases job returns it.
    with ReviewQueue(url, clock=lambda: team.queue.clock().replace(year=2020)) as old:
        old.claim(1, "reviewer-1")
    with team.queue.session() as s:
        last = max(e.id or 0 for e in s.scalars(select(AuditEvent)))
    code, _, err = cli(
        [*base, "--service", "service-1"],
        MODQUEUE_SERVICE="",
        MODQUEUE_TOKEN=team.tokens["service-1"],
    )
    assert code == 0, err
    with team.queue.session() as s:
        written = list(s.scalars(select(AuditEvent).where(col(AuditEvent.id) > last)))
    assert written, "the leases job wrote nothing"
    assert {(e.detail or {}).get("service") for e in written} == {"service-1"}
    assert team.queue.get_item(1).status == "pending"
    # The environment names the service too (MODQUEUE_SERVICE, MODQUEUE_TOKEN).
    code, _, err = cli(
        ["actions", "dispatch", "--once", "--db", url, "--config", str(tmp_path / "modqueue.toml")],
        MODQUEUE_SERVICE="service-1",
        MODQUEUE_TOKEN=team.tokens["service-1"],
    )
    assert code == 0, err


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

    def pending(stats: dict[str, Any]) -> dict[str, int]:  # not the ages: the clock is real
        return {name: q["pending"] for name, q in stats["by_queue"].items()}

    assert pending(team.queue.stats()) == pending(before)  # item 5 was not ingested


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
    assert code == 1 and "a registered reviewer is needed to see queue statistics" in err
    code, _, err = cli(["stats", "--reviewer", "boss", "--db", url], MODQUEUE_TOKEN=token)
    assert code == 0 and "open mode" not in err


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


def test_dispatch_runs_as_the_service_and_names_it_in_what_it_writes(
    database_url: str, tmp_path: Path
) -> None:
    """`modqueue actions dispatch` as the service identity, against a real local platform
    server: the delivery's audit events carry `detail.service`."""
    from tests.integrations.actions.conftest import SECRETS, TAKEDOWN_LABEL
    from tests.integrations.actions.platform_server import platform_server

    with ReviewQueue(database_url) as q:
        root = add(q, "root", "admin", [], None)
        token = add(q, "svc", "service", [], "root")
        q.enqueue([make_item(1, source="alpha", external_id="post-1")])
        q.decide(q.claim(1, "root"), TAKEDOWN_LABEL)
        with q.session() as s:
            last = max(e.id or 0 for e in s.scalars(select(AuditEvent)))
        with platform_server(dict(SECRETS)) as server:
            config = tmp_path / "modqueue.toml"
            config.write_text(
                f'[platforms.alpha]\naction_url = "{server.action_url("alpha")}"\n'
                'secret_env = "ALPHA_SECRET"\n',
                encoding="utf-8",
            )
            base = ["actions", "dispatch", "--once", "--db", database_url, "--config", str(config)]
            env = {"ALPHA_SECRET": SECRETS["alpha"], "MODQUEUE_TOKEN": token}
            code, _, err = cli([*base, "--service", "root"], **{**env, "MODQUEUE_TOKEN": root})
            assert code == 1 and "may not run a service process" in err
            code, _, err = cli([*base, "--service", "svc"], **env)
            assert code == 0, err
        with q.session() as s:
            written = list(
                s.scalars(
                    select(AuditEvent).where(
                        col(AuditEvent.id) > last, col(AuditEvent.event) != "access_denied"
                    )
                )
            )
    assert written, "the dispatcher wrote nothing"
    assert {(e.detail or {}).get("service") for e in written} == {"svc"}
    assert {e.actor for e in written} == {"dispatcher"}
