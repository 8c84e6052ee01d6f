"""Rewriting the audit trail as an attacker would, to test that verification notices."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, text

from modqueue.queue import make_engine

__all__ = ["drop_audit_guards", "tamper"]


def drop_audit_guards(conn: Connection) -> None:
    """Drop SQLite's triggers that refuse updates and deletes of `audit_event` (an
    owner can; PostgreSQL's guard is the role's missing grants, which the owner has)."""
    if conn.dialect.name == "sqlite":
        conn.execute(text("DROP TRIGGER audit_event_no_update"))
        conn.execute(text("DROP TRIGGER audit_event_no_delete"))


def tamper(url: str, work: Callable[[Connection], object]) -> None:
    """Rewrite rows of the database at `url` as an attacker with the owner's rights."""
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            drop_audit_guards(conn)
            work(conn)
    finally:
        engine.dispose()
