"""Tables that keep personal data out of the hash-chained audit payloads.

An audit event's personal fields (item text, URLs, media, author and reporter data,
free-text notes) live in `audit_personal`, keyed by the event's id; the chained payload
holds only a salted digest in their place (`{"personal": "<sha256>"}`), so deleting the
row erases them without changing any hash. `audit_seal` holds, for events written before
this split existed and rewritten by migration `0016_privacy_retention`, the hash of their
rewritten contents; the seals' digest is anchored by a chained `audit_sealed` event.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON
from sqlmodel import Field, SQLModel

__all__ = ["AuditPersonal", "AuditSeal"]


class AuditPersonal(SQLModel, table=True):
    """The personal fields of one audit event: `data` maps `"detail.note"`-style paths to
    values; `nonce` salts their digests in the chained payload (deleted with them)."""

    __tablename__ = "audit_personal"
    event_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    item_id: int | None = Field(default=None, index=True)
    nonce: str = Field(max_length=32)
    data: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)


class AuditSeal(SQLModel, table=True):
    """A legacy event whose personal fields were moved out by a migration: `sealed_hash`
    is the hash of its rewritten contents (its chained `hash` is unchanged)."""

    __tablename__ = "audit_seal"
    event_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    sealed_hash: str = Field(max_length=64)
