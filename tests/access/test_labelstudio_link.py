"""Linking reviewers to Label Studio accounts: the service (admins only) and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlmodel import col

from modqueue import ConfigError, InvalidState, PermissionDenied
from modqueue.queue import AuditEvent, ReviewQueue, add_reviewer, link_reviewer
from modqueue.queue._access.reviewers import reviewer_for_labelstudio
from tests.access.conftest import POLICY, ROLES, Team, add, denials
from tests.access.test_cli import cli


def _link(q: ReviewQueue, actor: str, name: str, email: str | None) -> str | None:
    row = q.run(
        lambda s: link_reviewer(s, actor=actor, name=name, labelstudio_email=email, now=q.clock())
    )
    return row.labelstudio_email


def _events(q: ReviewQueue, event: str) -> list[AuditEvent]:
    with q.session() as s:
        return list(
            s.scalars(
                select(AuditEvent)
                .where(col(AuditEvent.event) == event)
                .order_by(col(AuditEvent.id))
            )
        )


@pytest.mark.parametrize("role", ROLES)
def test_only_admins_link(team: Team, role: str) -> None:
    who = team.name(role)
    if role == "admin":
        assert _link(team.queue, who, "reviewer-1", "Ann@Example.ORG ") == "ann@example.org"
        (event,) = _events(team.queue, "reviewer_linked")
        assert event.actor == who
        assert event.before == {"name": "reviewer-1", "labelstudio_email": None}
        assert event.after == {"name": "reviewer-1", "labelstudio_email": "ann@example.org"}
        assert denials(team.queue, who) == []
    else:
        with pytest.raises(PermissionDenied, match=f"role {role}.* may not manage reviewers"):
            _link(team.queue, who, "reviewer-1", "ann@example.org")
        assert len(denials(team.queue, who)) == 1
        assert _events(team.queue, "reviewer_linked") == []
        with team.queue.session() as s:
            assert reviewer_for_labelstudio(s, "ann@example.org") is None


def test_emails_are_unique_without_regard_to_case(team: Team) -> None:
    q = team.queue
    _link(q, "root", "reviewer-1", "ann@example.org")
    with pytest.raises(InvalidState, match="already linked to reviewer 'reviewer-1'"):
        _link(q, "root", "senior-1", "ANN@example.org")
    with pytest.raises(InvalidState, match="already linked to reviewer 'reviewer-1'"):
        add(q, "newcomer", "reviewer", [POLICY], "root", labelstudio_email="Ann@Example.org")
    # Linking the same reviewer again, in another case, is no clash.
    assert _link(q, "root", "reviewer-1", "ANN@EXAMPLE.ORG") == "ann@example.org"
    with q.session() as s:
        found = reviewer_for_labelstudio(s, " Ann@Example.Org")
        assert found is not None and found.name == "reviewer-1"


def test_unlink_then_link_someone_else(team: Team) -> None:
    q = team.queue
    _link(q, "root", "reviewer-1", "ann@example.org")
    assert _link(q, "root", "reviewer-1", None) is None
    (event,) = _events(q, "reviewer_unlinked")
    assert event.after == {"name": "reviewer-1", "labelstudio_email": None}
    assert _link(q, "root", "senior-1", "ann@example.org") == "ann@example.org"


def test_bad_addresses_and_unknown_reviewers(team: Team) -> None:
    q = team.queue
    with pytest.raises(ConfigError, match="Label Studio e-mail 'not-an-email'"):
        _link(q, "root", "reviewer-1", "not-an-email")
    with pytest.raises(ConfigError, match="Label Studio e-mail"):
        add(q, "newcomer", "reviewer", [POLICY], "root", labelstudio_email="a b@c")
    with pytest.raises(Exception, match="reviewer 'ghost' does not exist"):
        _link(q, "root", "ghost", "ghost@example.org")


def test_add_with_an_email_links_and_audits_it(review_queue: ReviewQueue) -> None:
    q = review_queue
    created = q.run(
        lambda s: add_reviewer(
            s,
            actor=None,
            name="boss",
            role="admin",
            labelstudio_email="Boss@Example.org",
            now=q.clock(),
        )
    )
    assert created.reviewer.labelstudio_email == "boss@example.org"
    (event,) = _events(q, "reviewer_added")
    assert event.after is not None and event.after["labelstudio_email"] == "boss@example.org"


def test_cli_link_list_and_help(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/link.db"
    code, out, _ = cli(
        [
            "reviewers",
            "add",
            "boss",
            "--role",
            "admin",
            "--labelstudio-email",
            "Boss@Example.org",
            "--db",
            url,
            "--json",
        ]
    )
    assert code == 0, out
    token = json.loads(out)["token"]
    assert json.loads(out)["reviewer"]["labelstudio_email"] == "boss@example.org"
    as_boss = ["--reviewer", "boss", "--db", url]
    code, out, err = cli(
        ["reviewers", "add", "ann", "--policy", "hate", *as_boss], MODQUEUE_TOKEN=token
    )
    assert code == 0, err
    code, out, err = cli(
        ["reviewers", "link", "ann", "--labelstudio-email", "ANN@x.test", *as_boss],
        MODQUEUE_TOKEN=token,
    )
    assert code == 0, err
    assert out.startswith("linked ann: role reviewer") and "Label Studio ann@x.test" in out
    code, out, err = cli(["reviewers", "list", *as_boss], MODQUEUE_TOKEN=token)
    assert code == 0, err
    assert "ann: role reviewer, policies hate, pseudonym rv-" in out
    assert "Label Studio ann@x.test" in out and "Label Studio boss@example.org" in out
    code, out, err = cli(
        ["reviewers", "link", "boss", "--labelstudio-email", "ann@X.TEST", *as_boss],
        MODQUEUE_TOKEN=token,
    )
    assert code == 1 and "already linked to reviewer 'ann'" in err
    code, out, err = cli(["reviewers", "link", "ann", *as_boss], MODQUEUE_TOKEN=token)
    assert code == 2 and "pass either --labelstudio-email EMAIL" in err and "or --unlink" in err
    code, out, err = cli(
        ["reviewers", "link", "ann", "--unlink", *as_boss, "--json"], MODQUEUE_TOKEN=token
    )
    assert code == 0, err
    assert json.loads(out)["labelstudio_email"] is None
    code, out, _ = cli(["reviewers", "link", "--help"])
    assert code == 0
    text = " ".join(out.split())
    assert "--labelstudio-email" in text and "--unlink" in text
    assert "`modqueue labelstudio pull` applies an annotation only as the reviewer linked" in text
    assert "access_denied audit event" in text
