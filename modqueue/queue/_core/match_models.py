"""Tables of fingerprints: what an item looks like, so copies can find one another.

- `ItemFingerprint`: one fingerprint of one item: `kind` is `text_minhash` (the MinHash
  signature of its normalised text, 128 32-bit values as 1,024 hex digits), `sha256` (a
  media file's digest), `pdq` (an image's PDQ hash, 64 hex digits) or `bank` (a match
  against the known-content bank, as JSON).
- `FingerprintBand`: the candidate index. Each row is one 63-bit key (an LSH band of a
  MinHash, a 16-bit chunk of a PDQ hash, the head of a SHA-256) and the item that
  brought it; copies share keys. A member of a cluster stores only the keys its cluster
  did not already have, so a flood of exact copies adds no rows here. PDQ hashes are
  not keyed here but in `FingerprintPdq`.
- `FingerprintPdq`: the PDQ hashes copies are found by (searched in memory, see
  `_items/pdq_store.py`): one row per image hash that the item's cluster did not already
  have; `xact` is the writing transaction's id on PostgreSQL (`pg_current_xact_id()`,
  unset on SQLite, where ids never repeat: `AUTOINCREMENT`).
- `KnownContent`: the known-content bank: fingerprints of confirmed removals (or
  imported from another platform) with the policy and label they were removed under.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from modqueue.queue._core.types import UTCDateTime, utcnow

__all__ = ["FingerprintBand", "FingerprintPdq", "ItemFingerprint", "KnownContent"]


class ItemFingerprint(SQLModel, table=True):
    """One fingerprint of one item (see the module docstring for the kinds)."""

    __tablename__ = "item_fingerprint"
    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(foreign_key="item.id", index=True)
    kind: str = Field(max_length=20, index=True)
    value: str = Field(sa_column=Column(Text, nullable=False))


class FingerprintBand(SQLModel, table=True):
    """One candidate key of one item (see the module docstring)."""

    __tablename__ = "fingerprint_band"
    # (key, item_id): the candidate lookup by key reads the index alone (migration 0027).
    __table_args__ = (Index("ix_fingerprint_band_key_item", "key", "item_id"),)
    id: int | None = Field(default=None, primary_key=True)
    key: int = Field(sa_column=Column(BigInteger, nullable=False))
    item_id: int = Field(foreign_key="item.id", index=True)


class FingerprintPdq(SQLModel, table=True):
    """One PDQ hash copies of an item are found by (see the module docstring)."""

    __tablename__ = "fingerprint_pdq"
    __table_args__ = {"sqlite_autoincrement": True}
    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(foreign_key="item.id", index=True)
    value: str = Field(max_length=64)
    xact: int | None = Field(default=None, sa_column=Column(BigInteger, index=True))


class KnownContent(SQLModel, table=True):
    """One fingerprint in the known-content bank.

    `kind` is `pdq` (`value`: 64 hex digits) or `text_minhash` (`value`: the signature as
    1,024 hex digits); `distance` overrides the guideline's PDQ distance for this entry;
    `origin` is `confirmed` (a removal decided here, `item_id` set) or `import`.
    """

    __tablename__ = "known_content"
    __table_args__ = (
        UniqueConstraint("kind", "value_key", "policy", "label", name="uq_known_content"),
        Index("ix_known_content_kind", "kind"),
    )
    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=20)
    value: str = Field(sa_column=Column(Text, nullable=False))
    value_key: str = Field(max_length=64)
    policy: str = Field(max_length=100)
    label: str = Field(max_length=100)
    distance: int | None = None
    origin: str = Field(default="confirmed", max_length=20)
    item_id: int | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
