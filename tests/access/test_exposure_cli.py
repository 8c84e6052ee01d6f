"""`modqueue exposure show|lift|people` through the real Typer app, with real tokens, on
both backends: one's own figure for anyone, the lift for leads (audited), per-person
figures for admins only."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select
from sqlmodel import col

from modqueue.config import load_config
from modqueue.queue import AuditEvent, ReviewQueue
from tests.access.conftest import add, denials
from tests.access.test_cli import cli
from tests.conftest import make_item


def test_exposure_commands_by_role(database_url: str, tmp_path: Path) -> None:
    config = tmp_path / "modqueue.toml"
    # About the budget, so a small one: one graphic item reaches `near`.
    config.write_text("[exposure]\nbudget = 20\nnear = 0.5\n")
    with ReviewQueue(database_url) as q:
        tokens = {"root": add(q, "root", "admin", [], None)}
        tokens["lena"] = add(q, "lena", "lead", [], "root")
        tokens["ana"] = add(q, "ana", "reviewer", ["violent-threats"], "root")
        assert q.enqueue([make_item(1, policy="violent-threats")]).new == 1
    base = ["--db", database_url, "--config", str(config)]

    def as_(name: str, *args: str) -> tuple[int, str, str]:
        return cli([*args, *base, "--reviewer", name, "--token", tokens[name]])

    with ReviewQueue(database_url) as q:
        q.exposure = load_config(config).exposure
        assert q.claim_next("ana") is not None

    code, out, err = as_("ana", "exposure", "show", "--json")
    assert code == 0, err
    mine = json.loads(out)
    assert mine["reviewer"] == "ana" and mine["points"] == 10.0 and mine["budget"] == 20.0
    assert mine["held_back"] == ["image-abuse", "violent-threats"]

    code, out, err = as_("lena", "exposure", "show", "--of", "ana")
    assert code == 1 and "error:" in err and "see other reviewers' exposure" in err
    code, _, err = as_("ana", "exposure", "lift", "ana")
    assert code == 1 and "lift a reviewer's exposure budget" in err
    code, out, err = as_("lena", "exposure", "lift", "ana", "--reason", "backlog")
    assert code == 0, err
    assert "ana: graphic work allowed again until" in out

    code, out, err = as_("root", "exposure", "people", "--json")
    assert code == 0, err
    [row] = json.loads(out)
    assert (row["reviewer"], row["points"]) == ("ana", 10.0)
    code, out, err = as_("root", "exposure", "show", "--of", "ana", "--json")
    assert code == 0 and json.loads(out)["lifted_until"] is not None

    with ReviewQueue(database_url) as q:
        assert {e.actor for e in denials(q, "lena")} == {"lena"}
        assert len(denials(q, "ana")) == 1
        with q.session() as s:
            lifted = s.scalars(
                select(AuditEvent).where(col(AuditEvent.event) == "exposure_lifted")
            ).all()
        assert [(e.actor, e.detail) for e in lifted] == [("lena", {"reason": "backlog"})]
