"""Drop-folder sources: done/, rejected/ with .rejects, settling, claims and crash recovery."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlmodel import col

from modqueue.config import FolderSourceConfig
from modqueue.integrations.sources import FolderSource, SourceError
from modqueue.queue import AuditEvent, Item, ReviewQueue


def referral(n: int, **overrides: Any) -> str:
    item = {
        "source": "referrals",
        "external_id": f"ref-{n}",
        "text": f"referred post {n}",
        "policy": "people-smuggling",
        "reporter": {"id": "iru-1"},
    }
    item.update(overrides)
    return json.dumps(item) + "\n"


def folder(tmp_path: Path, settle_s: float = 0.0) -> FolderSource:
    inbox = tmp_path / "inbox"
    inbox.mkdir(exist_ok=True)
    return FolderSource(
        "referrals", FolderSourceConfig(kind="folder", path=inbox, settle_s=settle_s)
    )


def age(path: Path, seconds: float) -> None:
    past = time.time() - seconds
    os.utime(path, (past, past))


def count(queue: ReviewQueue, event: str | None = None) -> int:
    with queue.session() as s:
        if event is None:
            return int(s.scalar(select(func.count()).select_from(Item)) or 0)
        return int(
            s.scalar(
                select(func.count()).select_from(AuditEvent).where(col(AuditEvent.event) == event)
            )
            or 0
        )


def test_good_file_goes_to_done_and_bad_lines_to_rejects(
    review_queue: ReviewQueue, tmp_path: Path
) -> None:
    source = folder(tmp_path)
    inbox = source.path
    (inbox / "a.jsonl").write_text(referral(1) + referral(2))
    (inbox / "b.jsonl").write_text(
        referral(3)
        + "{not json\n"
        + json.dumps({"external_id": "x", "source": "referrals"})
        + "\n"
        + referral(4, policy="no-such-policy")
    )
    report = source.pull(review_queue)
    assert (report.files, report.new, report.merged) == (2, 3, 0)
    assert sorted(p.name for p in (inbox / "done").iterdir()) == ["a.jsonl"]
    assert sorted(p.name for p in (inbox / "rejected").iterdir()) == ["b.jsonl", "b.jsonl.rejects"]
    rejects = (inbox / "rejected" / "b.jsonl.rejects").read_text().splitlines()
    assert [line.split(":")[0] for line in rejects] == ["line 2", "line 3", "line 4"]
    assert "malformed JSON" in rejects[0]
    assert "needs at least one of text, url or media" in rejects[1]
    assert "unknown policy 'no-such-policy'" in rejects[2]
    assert list((inbox / "processing").iterdir()) == []
    assert count(review_queue) == 3
    assert count(review_queue, "file_ingested") == 2


def test_items_without_source_take_the_folder_name(
    review_queue: ReviewQueue, tmp_path: Path
) -> None:
    source = folder(tmp_path)
    (source.path / "c.jsonl").write_text(json.dumps({"external_id": "r-1", "text": "hi"}) + "\n")
    source.pull(review_queue)
    with review_queue.session() as s:
        assert s.scalars(select(col(Item.source))).all() == ["referrals"]


def test_unsettled_and_partial_files_are_left_alone(
    review_queue: ReviewQueue, tmp_path: Path
) -> None:
    source = folder(tmp_path, settle_s=60)
    inbox = source.path
    (inbox / "fresh.jsonl").write_text(referral(1))
    (inbox / "upload.jsonl.part").write_text(referral(2)[:20])
    (inbox / ".hidden.jsonl").write_text(referral(3))
    age(inbox / "upload.jsonl.part", 3600)
    age(inbox / ".hidden.jsonl", 3600)
    report = source.pull(review_queue)
    assert report.files == 0 and count(review_queue) == 0
    assert (inbox / "fresh.jsonl").exists() and (inbox / "upload.jsonl.part").exists()
    age(inbox / "fresh.jsonl", 120)
    assert source.pull(review_queue).files == 1
    assert count(review_queue) == 1
    assert (inbox / "done" / "fresh.jsonl").exists()


def test_a_crash_before_the_commit_reprocesses_the_file(
    review_queue: ReviewQueue, tmp_path: Path
) -> None:
    source = folder(tmp_path)
    processing = source.path / "processing"
    processing.mkdir()
    (processing / "1-99999--left.jsonl").write_text(referral(1) + referral(2))
    report = source.pull(review_queue)
    assert (report.files, report.new) == (1, 2)
    assert (source.path / "done" / "left.jsonl").exists()


def test_a_crash_after_the_commit_does_not_ingest_twice(
    review_queue: ReviewQueue, tmp_path: Path
) -> None:
    source = folder(tmp_path)
    (source.path / "once.jsonl").write_text(referral(1) + referral(2) + "oops\n")
    assert source.pull(review_queue).new == 2
    # As if the process died between the commit and the move out of processing/.
    shutil.move(
        source.path / "rejected" / "once.jsonl", source.path / "processing" / "5-1--once.jsonl"
    )
    (source.path / "rejected" / "once.jsonl.rejects").unlink()
    again = source.pull(review_queue)
    assert (again.files, again.new, again.merged) == (1, 0, 0)
    assert count(review_queue, "file_ingested") == 1
    assert (source.path / "rejected" / "once.jsonl").exists()
    assert (source.path / "rejected" / "once.jsonl.rejects").read_text().startswith("line 3:")


def test_a_file_held_by_another_process_is_skipped(
    review_queue: ReviewQueue, tmp_path: Path
) -> None:
    source = folder(tmp_path)
    processing = source.path / "processing"
    processing.mkdir()
    busy = processing / "7-4242--busy.jsonl"
    busy.write_text(referral(1))
    with busy.open("rb") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        assert source.pull(review_queue).files == 0
        assert busy.exists()
    assert source.pull(review_queue).files == 1


def test_same_name_again_does_not_overwrite_done(review_queue: ReviewQueue, tmp_path: Path) -> None:
    source = folder(tmp_path)
    (source.path / "daily.jsonl").write_text(referral(1))
    source.pull(review_queue)
    (source.path / "daily.jsonl").write_text(referral(2))
    source.pull(review_queue)
    done = sorted(p.name for p in (source.path / "done").iterdir())
    assert len(done) == 2 and done[0].startswith("daily.") and "daily.jsonl" in done
    assert count(review_queue) == 2


def test_missing_folder_names_the_source(review_queue: ReviewQueue, tmp_path: Path) -> None:
    cfg = FolderSourceConfig(kind="folder", path=tmp_path / "nope")
    with pytest.raises(SourceError, match=r"source referrals: folder .*nope does not exist"):
        FolderSource("referrals", cfg).pull(review_queue)
