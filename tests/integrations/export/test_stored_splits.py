"""`item.content_split`: ingest stores the split the export would compute, any change of
text, URL or media URLs nulls it (a trigger, whoever writes), `fill_content_splits` and
`modqueue fill-splits` fill what is null, and the export's fast path, which reads the
stored split, still writes the general path's bytes when splits are missing or were
nulled by a content change. On both backends."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import text, update
from sqlmodel import col
from typer.testing import CliRunner

from modqueue.cli import app
from modqueue.integrations.export import export_dataset
from modqueue.queue import (
    Item,
    ReviewQueue,
    content_split_of,
    fill_content_splits,
    mask_pii,
    split_for,
)
from modqueue.queue._decisions.pipeline import purge_item_fields
from tests.conftest import Clock, make_item
from tests.integrations.export.conftest import Seeded
from tests.integrations.export.test_export_fast import _decide_more, _files, _items

Row = tuple[int, str, str, str | None, str | None, Any, str | None]


def _rows(q: ReviewQueue) -> list[Row]:
    with q.read_session() as s:
        found = s.execute(
            text(
                "SELECT id, source, external_id, text, url, media, content_split "
                "FROM item ORDER BY id"
            )
        ).all()
    rows = []
    for r in found:
        media = json.loads(r[5]) if isinstance(r[5], str) else r[5]
        rows.append((int(r[0]), r[1], r[2], r[3], r[4], media, r[6]))
    return rows


def _computed(row: Row) -> str:
    """The split as the general export path computes it (masked text, no cluster)."""
    _, source, external_id, raw, url, media, _ = row
    return split_for(
        text=mask_pii(raw) if raw else "",
        url=url,
        media=media,
        source=source,
        external_id=external_id,
        masked=True,
    )


def _split(q: ReviewQueue, item_id: int) -> str | None:
    with q.read_session() as s:
        found = s.execute(
            text("SELECT content_split FROM item WHERE id = :id"), {"id": item_id}
        ).scalar_one()
    return None if found is None else str(found)


def test_ingest_stores_the_split_the_export_computes(database_url: str, clock: Clock) -> None:
    with ReviewQueue(database_url, clock=clock) as q:
        q.enqueue(_items())
        q.enqueue([make_item(90, text=None, url="https://x.example/a/?q=1")])
        q.enqueue([make_item(91, text=None, media=[{"kind": "image", "url": "https://m/1"}])])
        rows = _rows(q)
    assert len(rows) == 62
    splits = set()
    for row in rows:
        assert row[6] is not None, row
        assert (
            row[6]
            == _computed(row)
            == content_split_of(
                text=row[3], url=row[4], media=row[5], source=row[1], external_id=row[2]
            )
        )
        splits.add(row[6])
    assert splits == {"train", "validation", "test"}


def test_changing_the_content_nulls_the_stored_split(database_url: str, clock: Clock) -> None:
    with ReviewQueue(database_url, clock=clock) as q:
        q.enqueue(
            [
                make_item(n, text=f"{word} crossing tonight from the harbour", media=media)
                for n, (word, media) in enumerate(
                    [
                        ("boat", []),
                        ("ferry", []),
                        ("dinghy", [{"kind": "image", "url": "https://m/a"}]),
                        ("lorry", [{"kind": "image", "url": "https://m/b"}]),
                        ("convoy", []),
                        ("trawler", []),
                    ],
                    start=1,
                )
            ]
        )
        with q.session() as s:
            # Other columns, and media hashes that keep the URLs: the split stays.
            s.execute(text("UPDATE item SET status = 'pending', views = 7 WHERE id = 1"))
            s.execute(
                update(Item)
                .where(col(Item.id) == 3)
                .values(media=[{"kind": "image", "url": "https://m/a", "sha256": "ab"}])
            )
            # Text, URL, media URLs (raw SQL or ORM), a retention purge: nulled.
            s.execute(text("UPDATE item SET text = 'another text entirely' WHERE id = 2"))
            s.execute(
                update(Item)
                .where(col(Item.id) == 4)
                .values(media=[{"kind": "image", "url": "https://m/other"}])
            )
            s.execute(text("UPDATE item SET url = 'https://x.example/new' WHERE id = 5"))
            purge_item_fields(s, item_ids=[6], what={"content"}, now=clock())
        assert _split(q, 1) is not None and _split(q, 3) is not None
        assert [_split(q, n) for n in (2, 4, 5, 6)] == [None, None, None, None]
        # Filled again from the content as it is now.
        with q.session() as s:
            assert fill_content_splits(s) == (4, 6)
            assert fill_content_splits(s) == (0, None)
        for row in _rows(q):
            assert row[6] == _computed(row)


def test_fill_content_splits_in_batches(database_url: str, clock: Clock) -> None:
    with ReviewQueue(database_url, clock=clock) as q:
        q.enqueue(_items())
        with q.session() as s:
            # As after migration 0028 on a database that had items (no trigger fires).
            s.execute(text("UPDATE item SET content_split = NULL"))
        assert {r[6] for r in _rows(q)} == {None}
        after: int | None = 0
        calls = filled = 0
        while after is not None:
            with q.session() as s:
                done, after = fill_content_splits(s, after=after, batch=7)
            filled += done
            calls += 1
        assert filled == 60 and calls == 10  # 9 batches, then one that finds nothing
        for row in _rows(q):
            assert row[6] == _computed(row)


def test_fill_splits_command(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    db = f"sqlite:///{tmp_path}/cli.db"
    with ReviewQueue(db) as q:
        q.enqueue(_items()[:9])
        with q.session() as s:
            s.execute(text("UPDATE item SET content_split = NULL WHERE id > 3"))
    result = CliRunner().invoke(app, ["fill-splits", "--db", db, "--batch", "2", "--json"])
    assert result.exit_code == 0, (result.output, result.exception)
    assert json.loads(result.output) == {"filled": 6}
    with ReviewQueue(db) as q:
        for row in _rows(q):
            assert row[6] == _computed(row)


def test_fast_path_with_missing_and_nulled_splits(seeded: Seeded, tmp_path: Path) -> None:
    _decide_more(seeded)
    with ReviewQueue(seeded.url, clock=seeded.clock) as q:
        with q.session() as s:
            # Some never stored (older rows), some nulled by a content change after
            # ingest (the new text has another split than the stored one had).
            s.execute(text("UPDATE item SET content_split = NULL WHERE id % 3 = 0"))
            ids = s.execute(text("SELECT id FROM item WHERE id % 3 = 1 ORDER BY id")).scalars()
            for n, item_id in enumerate(ids):
                s.execute(
                    text("UPDATE item SET text = :t WHERE id = :id"),
                    {
                        "t": f"rewritten {['lantern', 'quay', 'beacon', 'ticket'][n % 4]} post {n}",
                        "id": item_id,
                    },
                )
        rows = _rows(q)
        assert any(r[6] is None for r in rows) and any(r[6] is not None for r in rows)
        now = seeded.clock()
        general = export_dataset(q.engine, out=tmp_path / "general", now=now, fast=False)
        fast = export_dataset(q.engine, out=tmp_path / "fast", now=now)
    assert general.records > 20
    assert fast.stats == general.stats
    assert _files(tmp_path / "fast") == _files(tmp_path / "general")
