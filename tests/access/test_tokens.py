"""Tokens: verified against a salted hash, never stored, logged or shown twice."""

from __future__ import annotations

import logging
import os
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlmodel import col

from modqueue import PermissionDenied
from modqueue.queue import AuditEvent, Reviewer, ReviewQueue, add_reviewer, reset_token
from modqueue.queue._access.reviewers import hash_token, token_matches
from tests.access.conftest import POLICY, Team, add


def _database_bytes(url: str, tmp_path: Path) -> bytes:
    """Everything the database holds, as bytes: the SQLite files, or a pg_dump."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        db = Path(parsed.database or "")
        return b"".join(
            p.read_bytes() for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm")) if p.exists()
        )
    env = {**os.environ, "PGPASSWORD": parsed.password or ""}
    dump = subprocess.run(
        [
            "pg_dump",
            "--data-only",
            "-h",
            parsed.host or "127.0.0.1",
            "-p",
            str(parsed.port or 5432),
            "-U",
            parsed.username or "",
            parsed.database or "",
        ],
        capture_output=True,
        env=env,
        check=True,
    )
    return dump.stdout


def test_tokens_are_never_stored_or_logged(
    review_queue: ReviewQueue,
    database_url: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    q = review_queue
    caplog.set_level(logging.DEBUG)
    logging.getLogger("sqlalchemy.engine").setLevel(logging.INFO)  # SQL and parameters
    try:
        root = add(q, "root", "admin", [], None)
        created = q.run(
            lambda s: add_reviewer(
                s, actor="root", name="bob", role="reviewer", policies=[POLICY], now=q.clock()
            )
        )
        bob = created.token
        assert bob not in repr(created)
        assert q.authenticate("bob", bob) == "bob"
        wrong = "mq_" + "x" * 43
        with pytest.raises(PermissionDenied, match="not valid"):
            q.authenticate("bob", wrong)
        rotated = q.run(lambda s: reset_token(s, actor="root", name="bob", now=q.clock()))
        with pytest.raises(PermissionDenied, match="not valid"):
            q.authenticate("bob", bob)
        assert q.authenticate("bob", rotated.token) == "bob"
    finally:
        logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)
    assert "token_hash" in caplog.text or "INSERT INTO reviewer" in caplog.text
    dump = _database_bytes(database_url, tmp_path)
    assert b"sha256$" in dump  # the hashes are there...
    for secret in (root, bob, wrong, rotated.token):
        assert secret not in caplog.text  # ...the tokens are not
        assert secret.encode() not in dump


def test_failed_logins_are_audited_without_the_token(team: Team) -> None:
    q = team.queue
    with pytest.raises(PermissionDenied, match="needs a token"):
        q.authenticate("lead-1", None)
    with pytest.raises(PermissionDenied, match="not registered"):
        q.authenticate("nobody", "mq_whatever")
    with q.session() as s:
        events = list(
            s.scalars(select(AuditEvent).where(col(AuditEvent.event) == "authentication_failed"))
        )
        hashes = [r.token_hash for r in s.scalars(select(Reviewer))]
    assert [e.actor for e in events] == ["lead-1", "nobody"]
    assert all("mq_whatever" not in str(e.detail) for e in events)
    assert all(h.startswith("sha256$") and len(h.split("$")[2]) == 64 for h in hashes)


def test_hash_is_salted_and_peppered(monkeypatch: pytest.MonkeyPatch) -> None:
    one, two = hash_token("mq_same"), hash_token("mq_same")
    assert one != two and token_matches("mq_same", one) and token_matches("mq_same", two)
    assert not token_matches("mq_other", one)
    monkeypatch.setenv("MODQUEUE_TOKEN_PEPPER", "kept-outside-the-database")
    assert not token_matches("mq_same", one)  # a stolen hash is useless without the pepper
    peppered = hash_token("mq_same")
    assert token_matches("mq_same", peppered)
    assert not token_matches("mq_same", "garbage")
