"""The known-content bank on both backends: filled from confirmed removals, matched at
ingest as a signal with its distance, exported and imported (`modqueue bank`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select
from sqlmodel import col
from typer.testing import CliRunner

from modqueue.cli import app
from modqueue.queue import (
    Item,
    KnownContent,
    ReviewQueue,
    bank_lines,
    bank_matches,
    fill_bank,
    sampled_for_second_review,
)
from tests.conftest import make_item
from tests.queue.test_match_clusters import ADVERT, COPY_1, PDQ_A, PDQ_NEAR

runner = CliRunner()


def _image(pdq: str) -> list[dict[str, Any]]:
    return [{"kind": "image", "url": "https://media.example.net/x.jpg", "pdq": pdq}]


def _item_id(q: ReviewQueue, external_id: str) -> int:
    with q.session() as s:
        found = s.scalar(select(col(Item.id)).where(col(Item.external_id) == external_id))
        assert found is not None
        return found


def _remove(q: ReviewQueue, n: int) -> int:
    """Decide item `post-n` with a removal (an item outside the second-review sample, so
    the removal is final at once)."""
    assert not sampled_for_second_review("platform-reports", f"post-{n}", 0.1)
    decision = q.decide(q.claim(_item_id(q, f"post-{n}"), "alice"), "remove-ban-refer")
    assert decision.id is not None
    return decision.id


def _fill(q: ReviewQueue) -> tuple[int, int]:
    return q.run(lambda s: fill_bank(s, now=q.clock()))


def _export(q: ReviewQueue) -> list[dict[str, Any]]:
    return q.read(lambda s: list(bank_lines(s)))


def test_confirmed_removals_fill_the_bank_and_later_copies_match(review_queue: ReviewQueue) -> None:
    q = review_queue
    q.enqueue(
        [
            make_item(1, text=ADVERT, media=_image(PDQ_A)),
            make_item(2, text="dm me", media=[]),
            make_item(3, text="synthetic flagged post that stays up and is fine"),
        ]
    )
    _remove(q, 1)
    _remove(q, 2)  # too short a text to bank
    assert _fill(q) == (2, 0)
    assert _fill(q) == (0, 0)
    lines = _export(q)
    assert sorted(line["kind"] for line in lines) == ["pdq", "text_minhash"]
    assert all(
        line["policy"] == "people-smuggling" and line["label"] == "remove-ban-refer"
        for line in lines
    )
    q.enqueue(
        [
            make_item(20, text=None, media=_image(PDQ_NEAR)),
            make_item(21, text=COPY_1),
            make_item(22, text="an unrelated post about a football match on saturday"),
        ]
    )
    ids = {n: _item_id(q, f"post-{n}") for n in (20, 21, 22)}
    matches = q.read(lambda s: bank_matches(s, item_ids=list(ids.values())))
    assert set(matches) == {ids[20], ids[21]}
    assert matches[ids[20]]["kind"] == "pdq" and matches[ids[20]]["distance"] == 8
    assert matches[ids[21]]["kind"] == "text_minhash"
    with q.session() as s:
        near = s.get_one(Item, ids[20])
        signal = next(x for x in near.signals if x["name"] == "bank:people-smuggling")
        assert signal["distance"] == 8 and signal["score"] == 1 - 8 / 256
        assert (
            near.priority_breakdown["parts"]["signal"]["input"]["name"] == "bank:people-smuggling"
        )
    # A re-ingest keeps the bank signal and its distance.
    q.enqueue([make_item(20, text=None, media=_image(PDQ_NEAR), views=999)])
    with q.session() as s:
        names = {x["name"]: x for x in s.get_one(Item, ids[20]).signals}
        assert names["bank:people-smuggling"]["distance"] == 8


def test_an_undone_removal_leaves_the_bank(review_queue: ReviewQueue) -> None:
    q = review_queue
    q.enqueue([make_item(1, text=ADVERT, media=_image(PDQ_A))])
    decision_id = _remove(q, 1)
    assert _fill(q) == (2, 0)
    q.undo(decision_id, "alice")
    assert _fill(q) == (0, 2)
    assert _export(q) == []


def test_export_import_round_trip(review_queue: ReviewQueue, tmp_path: Path) -> None:
    q = review_queue
    q.enqueue([make_item(1, text=ADVERT, media=_image(PDQ_A))])
    _remove(q, 1)
    out = tmp_path / "bank.jsonl"
    db = ["--db", q.database_url]
    result = runner.invoke(app, ["bank", "export", "--out", str(out), *db])
    assert result.exit_code == 0, result.output
    exported = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(exported) == 2
    text = next(line for line in exported if line["kind"] == "text_minhash")
    assert len(text["signature"]) == 128 and text["num_perm"] == 128 and text["seed"] == 1
    with q.session() as s:
        s.execute(delete(KnownContent))
        s.commit()
    result = runner.invoke(app, ["bank", "import", str(out), *db])
    assert result.exit_code == 0, result.output
    assert "2 added" in result.output
    assert _export(q) == exported
    again = runner.invoke(app, ["bank", "import", str(out), *db, "--json"])
    assert json.loads(again.stdout)["duplicates"] == 2


def test_import_rejects_bad_lines_and_keeps_the_good(
    review_queue: ReviewQueue, tmp_path: Path
) -> None:
    q = review_queue
    good = {
        "kind": "pdq",
        "hash": PDQ_A.upper(),
        "policy": "people-smuggling",
        "label": "remove-ban-refer",
    }
    lines = [
        json.dumps(good),
        json.dumps({**good, "hash": "abc"}),
        "{not json",
        json.dumps({**good, "policy": "no-such-policy"}),
        json.dumps({**good, "label": "no-such-label"}),
        json.dumps({**good, "distance": 300}),
        json.dumps({"kind": "text_minhash", "signature": [1, 2], "num_perm": 128, "seed": 1,
                    "policy": "people-smuggling", "label": "remove-ban-refer"}),
        json.dumps({**good, "kind": "video"}),
        json.dumps({**good, "hash": PDQ_NEAR, "distance": 12}),
    ]  # fmt: skip
    path = tmp_path / "bank.jsonl"
    path.write_text("\n".join(lines) + "\n")
    result = runner.invoke(app, ["bank", "import", str(path), "--db", q.database_url])
    assert result.exit_code == 2
    assert "line 2: hash: expected 64 hex digits" in result.stderr
    assert "line 3: not valid JSON" in result.stderr
    assert "line 4: policy: 'no-such-policy' is not a guideline here" in result.stderr
    assert "line 5: label: 'no-such-label' is not a label of 'people-smuggling'" in result.stderr
    assert "line 6: distance: expected a whole number 0..256" in result.stderr
    assert "line 7: signature: expected 128 whole numbers" in result.stderr
    assert "line 8: kind: expected 'pdq' or 'text_minhash'" in result.stderr
    assert [(x["hash"], x.get("distance")) for x in _export(q)] == [
        (PDQ_A, None),
        (PDQ_NEAR, 12),
    ]
    with q.session() as s:
        assert s.scalar(select(func.count()).select_from(KnownContent)) == 2
