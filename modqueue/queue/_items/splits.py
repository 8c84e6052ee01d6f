"""`item.content_split`: the split of an item's own content, stored so the export need not
compute it per record.

`content_split_of` is what ingest stores for a new item and what the export computes
where the column is null: `split_for` of the item's masked text, URL, media and identity,
without its cluster (the export gives an item in a cluster its cluster's split, so
joining a cluster changes nothing here). A trigger (migration `0028_export3_content_split`)
nulls the column whenever `text`, `url` or the media URLs change, so a stored split is
never older than the content it was computed from.

`fill_content_splits` fills the column for items stored before it existed (or whose
content changed since), one batch per call: one statement reads the batch, the splits
are computed here, one statement writes them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, select, update
from sqlmodel import Session, col

from modqueue.queue._core.models import Item
from modqueue.queue._items.content import (
    CONTENT_COLUMNS,
    content_key_and_words,
    mask_pii,
    split_of_key,
)

__all__ = ["content_split_and_words", "content_split_of", "fill_content_splits"]

_ITEM = Item.__table__  # type: ignore[attr-defined]
_PG_FILL = (
    "UPDATE item SET content_split = v.split "
    "FROM unnest(CAST(%s AS bigint[]), CAST(%s AS text[])) AS v(id, split) "
    "WHERE item.id = v.id"
)


def content_split_of(
    *,
    text: str | None,
    url: str | None,
    media: list[dict[str, Any]] | None,
    source: str,
    external_id: str,
) -> str:
    """The split of an item's own content (`text` as stored, unmasked): what the export
    writes for an item outside any cluster."""
    return content_split_and_words(
        text=text, url=url, media=media, source=source, external_id=external_id
    )[0]


def content_split_and_words(
    *,
    text: str | None,
    url: str | None,
    media: list[dict[str, Any]] | None,
    source: str,
    external_id: str,
) -> tuple[str, list[str] | None]:
    """`content_split_of`, and `normalise_text(text)` when the split was found with it
    (None otherwise), so ingest's fingerprinting need not compute the words again.

    The split normalises the masked text; its words are the text's own: `mask_pii`
    replaces emails as `normalise_text` does itself, and a phone number (digits, spaces
    and `+().-`, between characters that are no word characters) by `[PHONE]`, which
    `normalise_text` drops, where it would have split the words at the number's
    characters anyway (no letters)."""
    masked = mask_pii(text) if text else ""
    key, words = content_key_and_words(
        text=masked, url=url, media=media, source=source, external_id=external_id, masked=True
    )
    return split_of_key(key), words


def fill_content_splits(
    session: Session, *, after: int = 0, batch: int = 5000
) -> tuple[int, int | None]:
    """Store `content_split` for up to `batch` items with an id above `after` whose split
    is null, in the caller's transaction: how many it stored and the largest id it looked
    at (pass it as `after` to continue), None when no item above `after` lacks its split.

    On PostgreSQL the batch's rows are locked while their splits are computed (`FOR
    UPDATE SKIP LOCKED`: a row another transaction holds is left null and computed by
    the export instead), so no content changes between the read and the write; SQLite's
    writers hold the write lock for the whole transaction."""
    rows = session.execute(
        select(*CONTENT_COLUMNS)
        .where(col(Item.id) > after, col(Item.content_split).is_(None))
        .order_by(col(Item.id))
        .limit(batch)
        .with_for_update(skip_locked=True)
    ).all()
    if not rows:
        return 0, None
    ids = [int(r[0]) for r in rows]
    splits = [
        content_split_of(text=r[3], url=r[4], media=r[5], source=r[1], external_id=r[2])
        for r in rows
    ]
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        driver: Any = conn.connection.driver_connection
        with driver.cursor() as cur:
            cur.execute(_PG_FILL, (ids, splits))
    else:
        conn.execute(
            update(_ITEM)
            .where(_ITEM.c.id == bindparam("item_id"))
            .values(content_split=bindparam("split")),
            [{"item_id": i, "split": s} for i, s in zip(ids, splits, strict=True)],
        )
    return len(ids), ids[-1]
