"""Reviewer identities: roles, granted policies, token hashes and pseudonyms."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON
from sqlmodel import Field, SQLModel

from modqueue.queue._core.types import UTCDateTime, utcnow

__all__ = [
    "ALL_POLICIES",
    "Reviewer",
    "ReviewerBase",
    "ReviewerPseudonym",
    "ReviewerPublic",
    "Role",
]

ALL_POLICIES = "*"


class Role(StrEnum):
    """What a reviewer may do. The desk's ladder runs from `reviewer` to `admin`, each
    including the ones below it; `ml` (the ML team: export and aggregate quality) and
    `service` (the identity `modqueue serve` and `modqueue actions dispatch` run as) stand
    apart from it, with only their own permissions."""

    REVIEWER = "reviewer"
    SENIOR = "senior"
    LEAD = "lead"
    ADMIN = "admin"
    ML = "ml"
    SERVICE = "service"

    @property
    def rank(self) -> int:
        """0 for `reviewer` up to 3 for `admin`; -1 for `ml` and `service`, which are
        off the ladder (below every reviewer for queue work)."""
        return _LADDER.index(self) if self in _LADDER else -1


_LADDER = (Role.REVIEWER, Role.SENIOR, Role.LEAD, Role.ADMIN)


class ReviewerBase(SQLModel):
    """A person who reviews: the name they use (`--reviewer`), role and policies.

    `labelstudio_email` links the reviewer to their Label Studio account (stored in lower
    case; at most one reviewer per address): annotations pulled from Label Studio are
    decided as that reviewer, with their role and policies.
    """

    name: str = Field(max_length=200, unique=True)
    role: str = Field(default=Role.REVIEWER, max_length=20)
    policies: list[str] = Field(default_factory=list, sa_type=JSON)
    disabled: bool = False
    labelstudio_email: str | None = Field(default=None, max_length=254, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Reviewer(ReviewerBase, table=True):
    """Stored reviewer. `token_hash` is `sha256$<salt>$<digest>`; the token never is."""

    __tablename__ = "reviewer"
    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=200)

    def __repr_args__(self) -> Any:
        return [(k, v) for k, v in super().__repr_args__() if k != "token_hash"]


class ReviewerPublic(ReviewerBase):
    """A reviewer as listed: no token hash; `pseudonym` is how exports name them."""

    id: int
    pseudonym: str


class ReviewerPseudonym(SQLModel, table=True):
    """A stable random `rv-xxxxxxxx` per reviewer name, used outside the audit log.

    Kept apart from `reviewer` so that names used before any reviewer was registered
    (open mode) get pseudonyms too.
    """

    __tablename__ = "reviewer_pseudonym"
    name: str = Field(primary_key=True, max_length=200)
    pseudonym: str = Field(max_length=20, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
