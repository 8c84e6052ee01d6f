"""PostgreSQL privileges for the application's role: everything but rewriting the audit log."""

from __future__ import annotations

import re

from sqlalchemy import Engine, text

from modqueue._exceptions import ConfigError

__all__ = ["app_role_grants", "grant_app_role"]

_ROLE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def _check_role(role: str) -> None:
    if not _ROLE.match(role):
        raise ConfigError(
            f"role name {role!r}: use lower-case letters, digits and _ (a PostgreSQL identifier)"
        )


def app_role_grants(role: str, database: str) -> list[str]:
    """The SQL `grant_app_role` runs, in order (documented in docs/access-and-audit.md)."""
    _check_role(role)
    r = f'"{role}"'
    return [
        f'GRANT CONNECT, TEMPORARY ON DATABASE "{database}" TO {r}',
        f"GRANT USAGE ON SCHEMA public TO {r}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {r}",
        f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {r}",
        # The audit log is append-only for the application.
        f"REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON audit_event FROM {r}",
        # ...and so are its monthly partitions (PostgreSQL), which can be written directly.
        "DO $$ DECLARE p regclass; BEGIN FOR p IN SELECT inhrelid::regclass FROM pg_inherits "
        "WHERE inhparent = to_regclass('audit_event') LOOP EXECUTE format("
        f"'REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON %s FROM {r}', p); "
        "END LOOP; END $$",
        f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON alembic_version FROM {r}",
        # Tables a later migration creates (as the owner running it) get the same rights.
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public "
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {r}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public "
        f"GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {r}",
    ]


def grant_app_role(engine: Engine, role: str) -> list[str]:
    """Give the existing PostgreSQL `role` what modqueue needs, and no way to UPDATE,
    DELETE or TRUNCATE `audit_event`. Run as the schema's owner after every migration.

    Returns the statements run. Raises `ConfigError` on SQLite or for a missing role.
    """
    if engine.dialect.name != "postgresql":
        raise ConfigError("--app-role applies to PostgreSQL only (SQLite has no roles)")
    _check_role(role)
    with engine.begin() as conn:
        exists = conn.execute(
            text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}
        ).scalar()
        if not exists:
            raise ConfigError(f"PostgreSQL role {role!r} does not exist: CREATE ROLE it first")
        database = conn.execute(text("SELECT current_database()")).scalar_one()
        statements = app_role_grants(role, str(database))
        for statement in statements:
            conn.execute(text(statement))
    return statements
