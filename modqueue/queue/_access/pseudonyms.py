"""Pseudonyms: how reviewers appear outside the audit log (exports, actions, Label Studio)."""

from __future__ import annotations

import secrets
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col

from modqueue.queue._access.models import Reviewer, ReviewerPseudonym
from modqueue.queue._core.types import utcnow

__all__ = ["PSEUDONYM_PREFIX", "pseudonym_for", "pseudonyms_for", "reviewer_for_pseudonym"]

PSEUDONYM_PREFIX = "rv-"


def _new_pseudonym() -> str:
    return f"{PSEUDONYM_PREFIX}{secrets.token_hex(4)}"


def _known(session: Session, names: list[str]) -> dict[str, str]:
    rows = session.execute(
        select(col(ReviewerPseudonym.name), col(ReviewerPseudonym.pseudonym)).where(
            col(ReviewerPseudonym.name).in_(names)
        )
    )
    return {name: pseudonym for name, pseudonym in rows}


def pseudonyms_for(session: Session, names: Iterable[str]) -> dict[str, str]:
    """Stable pseudonyms (`rv-` and 8 hex digits) for reviewer `names`, created on first use.

    The pseudonym is random, not derived from the name, so it cannot be reversed without
    the database; it never changes for a name. Works in open mode too.
    """
    wanted = sorted(set(names))
    if not wanted:
        return {}
    known = _known(session, wanted)
    missing = [n for n in wanted if n not in known]
    if missing:
        dialect = session.get_bind().dialect.name
        insert_ = pg_insert if dialect == "postgresql" else sqlite_insert
        now = utcnow()
        for _ in range(5):  # a 32-bit collision is rare; retry with fresh values
            stmt = insert_(ReviewerPseudonym).on_conflict_do_nothing()
            session.execute(
                stmt,
                [{"name": n, "pseudonym": _new_pseudonym(), "created_at": now} for n in missing],
            )
            known = _known(session, wanted)
            missing = [n for n in wanted if n not in known]
            if not missing:
                break
        if missing:
            raise RuntimeError(f"could not allocate pseudonyms for {len(missing)} reviewer(s)")
    return {n: known[n] for n in wanted}


def pseudonym_for(session: Session, reviewer: str | Reviewer) -> str:
    """The stable pseudonym of one reviewer (a name or a `Reviewer`), created on first use.

    ```python
    with queue.session() as s:
        who = pseudonym_for(s, decision.reviewer)  # "rv-3f9a0c1d"
    ```
    """
    name = reviewer.name if isinstance(reviewer, Reviewer) else reviewer
    return pseudonyms_for(session, [name])[name]


def reviewer_for_pseudonym(session: Session, pseudonym: str) -> str | None:
    """The reviewer name behind `pseudonym` (for mapping Label Studio annotators back)."""
    return session.scalars(
        select(col(ReviewerPseudonym.name)).where(col(ReviewerPseudonym.pseudonym) == pseudonym)
    ).one_or_none()
