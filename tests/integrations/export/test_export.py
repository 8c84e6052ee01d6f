"""The training-data export of a seeded database, field by field, and what never leaks."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from sqlalchemy import func, select

from modqueue.guidelines import load_guidelines
from modqueue.integrations.export import SPLITS, export_dataset, split_for
from modqueue.queue import FloodsConfig, ReviewQueue, make_engine
from modqueue.queue._core.quality_models import ExportSecret
from tests.conftest import make_item
from tests.integrations.export.conftest import (
    AUTHOR,
    KEY,
    REPORTER,
    REVIEWERS,
    SENSITIVE_TEXT,
    Seeded,
)

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
NEVER_IN_OUTPUT = [
    *REVIEWERS,
    *(name.split()[0] for name in REVIEWERS),
    REPORTER["id"],
    REPORTER["contact"],
    REPORTER["name"],
    AUTHOR["id"],
    AUTHOR["handle"],
    "real_handle_xyz",
    "7700 900123",
    "crossing.agent@mail.example",
    "Alice's note",
    "Reporter Ann says",
    KEY,
]


def _pseudonym(kind: str, value: str) -> str:
    return hmac.new(KEY.encode(), f"{kind}\0{value}".encode(), hashlib.sha256).hexdigest()[:20]


def annotator(name: str) -> str:
    return "annotator-" + _pseudonym("reviewer", name)


def _export(seeded: Seeded, out: Path, **kwargs: Any) -> dict[str, Any]:
    engine = make_engine(seeded.url)
    try:
        report = export_dataset(engine, out=out, now=seeded.clock(), **kwargs)
    finally:
        engine.dispose()
    return report.to_dict()


def _read_jsonl(out: Path) -> dict[str, dict[str, Any]]:
    records = {}
    for split in SPLITS:
        for line in (out / f"{split}.jsonl").read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            assert record["split"] == split
            records[record["id"]] = record
    return records


def test_seeded_export_field_by_field(seeded: Seeded, tmp_path: Path) -> None:
    report = _export(seeded, tmp_path)
    records = _read_jsonl(tmp_path)
    assert report["records"] == 5
    assert sorted(records) == [
        f"platform-reports:post-{n}" for n in (1, 2, 3, 4, 6)
    ]  # post-5 is undecided
    version = load_guidelines().get("people-smuggling").version
    one = records["platform-reports:post-1"]
    assert one == {
        "id": "platform-reports:post-1",
        "source": "platform-reports",
        "text": "Boat leaves Friday, text me at [PHONE] or mail [EMAIL]",
        "url": "https://platform.example/p/1",
        "media": [{"kind": "image", "url": "https://cdn.example/1.jpg"}],
        "author": "author-" + _pseudonym("author", f"platform-reports\0{AUTHOR['id']}"),
        "policy": "people-smuggling",
        "label": "remove-ban-refer",
        "action": "refer_law_enforcement",
        "annotations": [
            {
                "annotator": annotator("Alice Smith"),
                "label": "remove-ban-refer",
                "source": "api",
                "seconds": 12.0,
                "second_review": False,
                "kind": "primary",
                "decided_at": "2026-11-24T09:00:12+00:00",
            },
            {
                "annotator": annotator("Bob Jones"),
                "label": "remove-ban-refer",
                "source": "tui",
                "seconds": 30.0,
                "second_review": True,
                "kind": "second_review",
                "decided_at": "2026-11-24T09:00:43+00:00",
            },
        ],
        "agreement": 1.0,
        "guideline_id": "people-smuggling",
        "guideline_version": version,
        "decided_at": "2026-11-24T09:00:43+00:00",
        "appeal": "none",
        "split": split_for(
            text=SENSITIVE_TEXT,
            url="https://platform.example/p/1",
            media=[],
            source="platform-reports",
            external_id="post-1",
        ),
        "automated": False,
    }
    two = records["platform-reports:post-2"]
    assert [(a["annotator"], a["label"], a["source"], a["kind"]) for a in two["annotations"]] == [
        (annotator("Alice Smith"), "remove-fake-documents", "api", "primary"),
        (annotator("Bob Jones"), "restrict-testimonial", "labelstudio", "second_review"),
        (annotator("Sam Senior"), "remove-fake-documents", "tui", "senior"),
    ]
    assert (two["label"], two["action"], two["agreement"]) == (
        "remove-fake-documents",
        "remove_and_ban",
        pytest.approx(1 / 3),
    )
    three = records["platform-reports:post-3"]
    assert (three["label"], three["action"], three["appeal"], three["agreement"]) == (
        "news-or-safety-warning",
        "none",
        "overturned",
        0.0,
    )
    assert [(a["annotator"], a["kind"]) for a in three["annotations"]] == [
        (annotator("Bob Jones"), "primary"),
        (annotator("Rita Senior"), "appeal"),
    ]
    four = records["platform-reports:post-4"]
    assert (four["agreement"], four["author"], four["url"], len(four["annotations"])) == (
        None,
        "",
        "",
        1,
    )
    assert records["platform-reports:post-6"]["policy"] == "hate"
    card = (tmp_path / "README.md").read_text(encoding="utf-8")
    assert "| people-smuggling/remove-fake-documents |" in card
    assert f"`{version}`" in card
    assert "Decisions from 2026-11-24T09:00:43+00:00" in card  # post-1 was final first
    assert "| people-smuggling | 3 | " in card  # three items with two or more labels


def test_no_reporter_or_reviewer_detail_anywhere(seeded: Seeded, tmp_path: Path) -> None:
    _export(seeded, tmp_path / "jsonl")
    _export(seeded, tmp_path / "parquet", fmt="parquet")
    blobs = [p.read_bytes() for p in (tmp_path / "jsonl").iterdir()]
    blobs.append((tmp_path / "parquet" / "README.md").read_bytes())
    for split in SPLITS:
        rows = pq.read_table(tmp_path / "parquet" / f"{split}.parquet").to_pylist()
        blobs.append(json.dumps(rows, default=str).encode())
    assert len(blobs) == 8
    for needle in NEVER_IN_OUTPUT:
        for blob in blobs:
            assert needle.encode() not in blob, needle
    assert not list(tmp_path.rglob("*.partial"))


def test_parquet_holds_the_same_records(seeded: Seeded, tmp_path: Path) -> None:
    _export(seeded, tmp_path / "j")
    _export(seeded, tmp_path / "p", fmt="parquet")
    expected = _read_jsonl(tmp_path / "j")
    got = {}
    for split in SPLITS:
        for row in pq.read_table(tmp_path / "p" / f"{split}.parquet").to_pylist():
            row["decided_at"] = row["decided_at"].isoformat()
            for a in row["annotations"]:
                a["decided_at"] = a["decided_at"].isoformat()
            got[row["id"]] = row
    assert got == expected


def test_splits_do_not_move_when_data_grows(seeded: Seeded, tmp_path: Path) -> None:
    _export(seeded, tmp_path / "before")
    before = {k: r["split"] for k, r in _read_jsonl(tmp_path / "before").items()}
    with ReviewQueue(seeded.url, clock=seeded.clock) as q:
        q.quality = q.quality.model_copy(update={"second_review_share": 0.0})
        # 60 texts that differ only in digits are one cluster: a fingerprint flood. This
        # test is about splits, not floods, so folding is off.
        q.floods = FloodsConfig(enabled=False)
        q.enqueue(
            [make_item(n, text=f"a brand new post about topic {n * 7919}") for n in range(10, 70)]
        )
        while (got := q.claim_next("Alice Smith")) is not None:
            q.decide(got, "no-violation")
    _export(seeded, tmp_path / "after")
    after = {k: r["split"] for k, r in _read_jsonl(tmp_path / "after").items()}
    assert len(after) == len(before) + 61  # post-5 was decided too
    assert {k: after[k] for k in before} == before


def test_cursor_and_since_export_only_what_changed(seeded: Seeded, tmp_path: Path) -> None:
    first = _export(seeded, tmp_path / "1", cursor="ml-team")
    assert first["records"] == 5
    seeded.clock.advance(minutes=1)
    assert _export(seeded, tmp_path / "2", cursor="ml-team")["records"] == 0
    seeded.clock.advance(minutes=1)
    with ReviewQueue(seeded.url, clock=seeded.clock) as q:
        q.decide(q.claim(5, "Bob Jones"), "no-violation")
    seeded.clock.advance(minutes=1)
    third = _export(seeded, tmp_path / "3", cursor="ml-team")
    assert third["records"] == 1
    assert list(_read_jsonl(tmp_path / "3")) == ["platform-reports:post-5"]
    since = _export(seeded, tmp_path / "4", since=T0.replace(hour=23))
    assert since["records"] == 0
    by_policy = _export(seeded, tmp_path / "5", policy="hate")
    assert list(_read_jsonl(tmp_path / "5")) == ["platform-reports:post-6"]
    assert by_policy["records"] == 1


def test_generated_key_is_kept_in_the_database(
    seeded: Seeded, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MODQUEUE_EXPORT_KEY")
    _export(seeded, tmp_path / "a")
    _export(seeded, tmp_path / "b")
    a, b = _read_jsonl(tmp_path / "a"), _read_jsonl(tmp_path / "b")
    assert a == b
    ids = {x["annotator"] for r in a.values() for x in r["annotations"]}
    assert len(ids) == 4 and annotator("Alice Smith") not in ids  # another key
    engine = make_engine(seeded.url)
    with engine.connect() as conn:
        table = ExportSecret.__table__  # type: ignore[attr-defined]
        key = conn.execute(select(table.c.value)).scalar_one()
        assert conn.execute(select(func.count()).select_from(table)).scalar_one() == 1
    engine.dispose()
    for path in (tmp_path / "a").iterdir():
        assert key.encode() not in path.read_bytes()
