"""Pseudonyms and masking: nothing that names a person leaves in an export.

Reviewer names and author ids become keyed HMAC-SHA-256 pseudonyms (stable for one key,
unlinkable without it). The key is `MODQUEUE_EXPORT_KEY` when set, else a random key
generated once and kept in the database (`export_secret`). Emails and phone numbers in
text are replaced by `[EMAIL]` and `[PHONE]`.
"""

from __future__ import annotations

import hashlib
import os
import secrets

from sqlalchemy import Engine, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from modqueue._exceptions import ConfigError
from modqueue.queue import ExportSecret, mask_pii, read_connection, utcnow

__all__ = ["KEY_ENV", "Pseudonymiser", "export_key", "mask_pii"]

KEY_ENV = "MODQUEUE_EXPORT_KEY"
KEY_NAME = "export-hmac-key"
MIN_KEY_CHARS = 16
_BLOCK = hashlib.sha256().block_size
_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))


def export_key(engine: Engine) -> bytes:
    """The export's HMAC key: `$MODQUEUE_EXPORT_KEY`, or the key stored in the database
    (generated on first use, race-free across processes)."""
    from_env = os.environ.get(KEY_ENV)
    if from_env is not None:
        if len(from_env.strip()) < MIN_KEY_CHARS:
            raise ConfigError(f"{KEY_ENV} is set but shorter than {MIN_KEY_CHARS} characters")
        return from_env.strip().encode()
    table = ExportSecret.__table__  # type: ignore[attr-defined]
    with read_connection(engine) as conn:  # after the first export: no writers' lock
        stored = conn.execute(select(table.c.value).where(table.c.name == KEY_NAME)).scalar()
    if stored is not None:
        return str(stored).encode()
    factory = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert
    with engine.begin() as conn:
        conn.execute(
            factory(table)
            .values(name=KEY_NAME, value=secrets.token_hex(32), created_at=utcnow())
            .on_conflict_do_nothing(index_elements=["name"])
        )
        value = conn.execute(select(table.c.value).where(table.c.name == KEY_NAME)).scalar_one()
    return str(value).encode()


class Pseudonymiser:
    """Keyed pseudonyms: `annotator("alice") -> "annotator-3f2a..."`."""

    __slots__ = ("_annotators", "_authors", "_inner", "_outer")
    AUTHOR_CACHE = 50_000

    def __init__(self, key: bytes) -> None:
        # HMAC (RFC 2104) with its two padded-key states hashed once: each pseudonym
        # then costs two SHA-256 copies, not a new HMAC context (the export computes one
        # per distinct author, millions at scale). The key itself is not kept.
        if len(key) > _BLOCK:
            key = hashlib.sha256(key).digest()
        key = key.ljust(_BLOCK, b"\0")
        self._inner = hashlib.sha256(key.translate(_IPAD))
        self._outer = hashlib.sha256(key.translate(_OPAD))
        self._annotators: dict[str, str] = {}
        self._authors: dict[tuple[str, str], str] = {}

    def __repr__(self) -> str:
        return "Pseudonymiser(key=<hidden>)"

    def _digest(self, kind: str, value: str) -> str:
        """HMAC-SHA-256 of `kind\\0value`, the first 20 hex digits."""
        inner = self._inner.copy()
        inner.update(f"{kind}\0{value}".encode())
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()[:20]

    def annotator(self, reviewer: str) -> str:
        """The pseudonymous annotator id of `reviewer`."""
        found = self._annotators.get(reviewer)
        if found is None:
            found = self._annotators[reviewer] = f"annotator-{self._digest('reviewer', reviewer)}"
        return found

    def author(self, source: str, author_id: str | None) -> str | None:
        """The pseudonymous id of an author account on `source` (None stays None)."""
        if author_id is None:
            return None
        found = self._authors.get((source, author_id))
        if found is None:
            if len(self._authors) >= self.AUTHOR_CACHE:
                self._authors.clear()  # bounded memory; recomputing is only slower
            digest = self._digest("author", source + "\0" + author_id)
            found = self._authors[(source, author_id)] = f"author-{digest}"
        return found
