"""A queue transaction's first statement: who is acting, and the audit chain's set-up.

Nearly every transaction authorizes its reviewer first and appends an audit event next.
`open_transaction` installs, on a session, a reviewer lookup (the columns and join of
`_access.rules`) that also sets up the transaction's audit chain append (`_audit.chain`:
on PostgreSQL which chain, its lock, its head and an id taken ahead) in the same
statement: one round trip instead of two or three. `open_claim_transaction` leaves the
head out (the claim statement reads it itself). Authorization knows nothing of chains
and the audit trail nothing of reviewers; this module composes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from sqlalchemy import Integer, String, column, text
from sqlalchemy.sql.selectable import TextualSelect
from sqlmodel import Session

from modqueue.queue._access.rules import (
    LOOKUP_KEY,
    REVIEWER_COLUMNS,
    REVIEWER_JOIN,
    REVIEWER_TYPES,
    Principal,
    principal_from_rows,
)
from modqueue.queue._audit.chain import chain_prologue, note_prologue, try_chain_params
from modqueue.queue._core.prepared import Prepared

__all__ = [
    "ClaimLookup",
    "claim_lookup",
    "open_claim_transaction",
    "open_transaction",
    "read_claim_lookup",
]


def _statement(dialect: str, head: bool) -> TextualSelect:
    columns, from_clause = chain_prologue(dialect, head=head)
    return text(f"SELECT {columns}, {REVIEWER_COLUMNS} FROM {from_clause} {REVIEWER_JOIN}").columns(
        column("audit_chain", Integer),
        column("audit_head_id", Integer),
        column("audit_head_hash", String),
        column("audit_next_id", Integer),
        *REVIEWER_TYPES,
    )


# By dialect and whether the chain's head is read (`chain_prologue`).
_STATEMENTS = {
    ("postgresql", True): Prepared(_statement("postgresql", True)),
    ("postgresql", False): Prepared(_statement("postgresql", False)),
    ("sqlite", True): Prepared(_statement("sqlite", True)),
}


class _Row(NamedTuple):
    """A lookup row: the audit chain's set-up, then the reviewer's columns (by name, as
    `principal_from_rows` reads them)."""

    audit_chain: int | None
    audit_head_id: int | None
    audit_head_hash: str | None
    audit_next_id: int | None
    name: str | None
    role: str | None
    policies: Any
    disabled: bool | None


def claim_lookup(name: str) -> tuple[Prepared, dict[str, Any]]:
    """The PostgreSQL statement `open_claim_transaction` looks `name` up with (the
    chain's lock, an id taken ahead, which it also leaves in `AUDIT_NEXT_SETTING`, and
    the reviewer), and its parameters: for a caller that sends it itself
    (`read_claim_lookup` reads its rows)."""
    return _STATEMENTS["postgresql", False], {"name": name, **try_chain_params()}


class ClaimLookup(NamedTuple):
    """What `claim_lookup`'s statement found: the chain locked and the id taken ahead
    (None: no chain was free), and the reviewer (`principal_from_rows`)."""

    chain: int | None
    next_id: int | None
    principal: Principal | None
    open_mode: bool


def read_claim_lookup(rows: Sequence[Sequence[Any]], name: str) -> ClaimLookup:
    """The rows of `claim_lookup`'s statement (processed: `Prepared.processed`), read."""
    found = [_Row(*r) for r in rows]
    principal, open_mode = principal_from_rows(found, name)
    return ClaimLookup(found[0].audit_chain, found[0].audit_next_id, principal, open_mode)


def _lookup_with_chain(session: Session, name: str) -> tuple[Principal | None, bool]:
    return _lookup(session, name, head=True)


def _lookup_with_chain_lock(session: Session, name: str) -> tuple[Principal | None, bool]:
    return _lookup(session, name, head=False)


def _lookup(session: Session, name: str, *, head: bool) -> tuple[Principal | None, bool]:
    conn = session.connection()
    # SQLite reads the head either way: under its write lock it is current, and used.
    head = head or conn.dialect.name != "postgresql"
    statement = _STATEMENTS[conn.dialect.name, head]
    rows = statement.rows(conn, {"name": name, **try_chain_params()})
    found = [_Row(*r) for r in rows]
    first = found[0]
    note_prologue(
        conn,
        chain=first.audit_chain,
        head_id=first.audit_head_id,
        head_hash=first.audit_head_hash,
        next_id=first.audit_next_id,
        head=head,
    )
    return principal_from_rows(found, name)


def open_transaction(session: Session) -> Session:
    """Make `session`'s reviewer lookups also set up its audit chain; returns it."""
    session.info[LOOKUP_KEY] = _lookup_with_chain
    return session


def open_claim_transaction(session: Session) -> Session:
    """`open_transaction` for a claim: on PostgreSQL the lookup takes the chain's lock
    and an id ahead but does not read the chain's head, which the claim statement reads
    itself under that lock (`_audit.inline`); returns `session`."""
    session.info[LOOKUP_KEY] = _lookup_with_chain_lock
    return session
