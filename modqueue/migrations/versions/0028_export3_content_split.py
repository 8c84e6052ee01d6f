"""`item.content_split`: the split of an item's own content, stored by ingest for the export.

The JSON Lines export spent about a quarter of its time per record computing each item's
split (`content_key`: masking, normalising, MinHash, SHA-256). Ingest now stores the split
of the item's own content (`split_for` of its masked text, URL, media and identity,
without its cluster) in `content_split`; the export reads it and computes the split
only where it is null. An item in a cluster still takes its cluster's split (the export
knows the cluster), so joining or leaving a cluster needs no change here.

The column is nullable and added without a default (no table rewrite, no backfill in the
migration: it stays cheap at 10,000,000 items); rows stored before it are filled by
`modqueue db fill-splits` (batched, set-based) or computed by the export meanwhile.

A stored split can never outlive the content it was computed from: a trigger on `item`
sets `content_split` to null whenever an update changes `text`, `url` or the media URLs
(retention purges, ingest merging missing content, any other writer), so the export
recomputes it until it is filled again. Updates that only add media hashes or fetch
errors keep the URLs and the stored split.

Revision ID: 0028_export3_content_split
Revises: 0027_fpingest2_band_covering
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0028_export3_content_split"
down_revision: str | Sequence[str] | None = "0027_fpingest2_band_covering"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PG = [
    """
    CREATE FUNCTION modqueue_content_split_stale() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        NEW.content_split := NULL;
        RETURN NEW;
    END $$
    """,
    # The media's URLs in order: what `content_key` may read of the media.
    """
    CREATE TRIGGER item_content_split_stale BEFORE UPDATE OF text, url, media ON item
    FOR EACH ROW WHEN (
        OLD.text IS DISTINCT FROM NEW.text
        OR OLD.url IS DISTINCT FROM NEW.url
        OR jsonb_path_query_array(OLD.media::jsonb, '$[*].url')
            IS DISTINCT FROM jsonb_path_query_array(NEW.media::jsonb, '$[*].url')
    )
    EXECUTE FUNCTION modqueue_content_split_stale()
    """,
]

_SQLITE_MEDIA_URLS = (
    "(SELECT json_group_array(json_extract(value, '$.url')) FROM json_each({row}.media))"
)
_SQLITE = (
    "CREATE TRIGGER item_content_split_stale AFTER UPDATE OF text, url, media ON item "
    "FOR EACH ROW WHEN OLD.text IS NOT NEW.text OR OLD.url IS NOT NEW.url OR "
    f"{_SQLITE_MEDIA_URLS.format(row='OLD')} IS NOT {_SQLITE_MEDIA_URLS.format(row='NEW')} "
    "BEGIN UPDATE item SET content_split = NULL WHERE id = NEW.id; END"
)


def upgrade() -> None:
    op.add_column("item", sa.Column("content_split", sa.String(length=10), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        for statement in _PG:
            op.execute(statement)
    else:
        op.execute(_SQLITE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS item_content_split_stale ON item")
        op.execute("DROP FUNCTION IF EXISTS modqueue_content_split_stale()")
    else:
        op.execute("DROP TRIGGER IF EXISTS item_content_split_stale")
    op.drop_column("item", "content_split")
