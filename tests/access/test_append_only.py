"""The application cannot rewrite the audit log: PostgreSQL privileges, SQLite triggers."""

from __future__ import annotations

import secrets

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from modqueue.queue import ReviewQueue, make_engine, verify_chain
from modqueue.queue._access.grants import app_role_grants, grant_app_role
from tests.conftest import make_item


def _as_owner(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def test_the_app_cannot_update_delete_or_truncate_audit_rows(database_url: str) -> None:
    url = database_url
    role = None
    if make_url(url).get_backend_name() == "postgresql":
        # A real login role with exactly what `modqueue init --app-role` grants.
        role = f"modqueue_app_{secrets.token_hex(4)}"
        password = secrets.token_hex(16)
        with psycopg.connect(_as_owner(url), autocommit=True) as conn:
            conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
        owner = make_engine(url)
        try:
            statements = grant_app_role(owner, role)
        finally:
            owner.dispose()
        assert any("REVOKE UPDATE, DELETE, TRUNCATE" in s for s in statements)
        url = make_url(url).set(username=role, password=password).render_as_string(False)
    try:
        with ReviewQueue(url) as q:  # the whole workflow runs as the app
            q.enqueue([make_item(1)])
            claim = q.claim_next("alice")
            assert claim is not None
            q.decide(claim, "no-violation")
            engine = q.engine
            if role:  # the app role cannot create tables, yet partitions are made ahead
                month = q.run(
                    lambda s: s.scalar(text("SELECT modqueue_audit_partition('2031-01-01')"))
                )
                assert month is True
            for statement in (
                "UPDATE audit_event SET actor = 'mallory'",
                "DELETE FROM audit_event",
            ) + (
                # A partition written directly is refused too (PostgreSQL).
                (
                    "TRUNCATE audit_event",
                    "DELETE FROM audit_event_default",
                    "DELETE FROM audit_event_2031_01",
                )
                if role
                else ()
            ):
                with pytest.raises(DBAPIError) as err, engine.begin() as conn:
                    conn.execute(text(statement))
                message = str(err.value)
                assert "permission denied" in message or "append-only" in message
            assert q.run(lambda s: verify_chain(s)).checked == 3
    finally:
        if role is not None:
            with psycopg.connect(_as_owner(database_url), autocommit=True) as conn:
                conn.execute(f"DROP OWNED BY {role}")
            admin = make_url(database_url).set(drivername="postgresql", database="postgres")
            with psycopg.connect(admin.render_as_string(False), autocommit=True) as conn:
                conn.execute(
                    f'DROP DATABASE IF EXISTS "{make_url(database_url).database}" WITH (FORCE)'
                )
                conn.execute(f"DROP ROLE {role}")


def test_role_names_are_checked() -> None:
    from modqueue import ConfigError

    with pytest.raises(ConfigError, match="PostgreSQL identifier"):
        app_role_grants('app"; DROP TABLE item; --', "db")
    assert app_role_grants("modqueue_app", "db")[0].startswith("GRANT CONNECT")
