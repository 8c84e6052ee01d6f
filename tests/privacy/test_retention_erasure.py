"""Retention and erasure leave no personal data anywhere in the database, and the audit
chain still verifies: every text and JSON column of every table is scanned."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import col
from typer.testing import CliRunner

from modqueue._exceptions import ConfigError
from modqueue.cli import app
from modqueue.config import ModqueueConfig, load_config
from modqueue.quality import open_appeal
from modqueue.queue import (
    AuditEvent,
    AuditPersonal,
    RetentionConfig,
    ReviewQueue,
    add_reviewer,
    event_dict,
    personal_of,
    verify_chain,
)
from modqueue.scheduler import JobContext, default_jobs, run_once
from tests.conftest import Clock, make_item
from tests.privacy.scan import occurrences, text_columns

AUTHOR = {"id": "acct-privacy-7731", "handle": "@privacy_handle_7731"}
REPORTER = {"id": "rep-privacy-4410", "contact": "privacy.reporter.4410@example.org"}
TEXT = "privacy-text-5521"
URL = "https://example.org/p/privacy-url-6612"
MEDIA = "https://example.org/i/privacy-media-8833.jpg"
# A second person, whose item stays pending: nothing of theirs may be removed.
OTHER_AUTHOR = {"id": "acct-keep-1201", "handle": "@keep_handle_1201"}
OTHER_REPORTER = {"id": "rep-keep-3302", "contact": "keep.reporter.3302@example.org"}
OTHER_TEXT = "keep-text-9904"

SUBJECT_CONTENT = [TEXT, URL, MEDIA]
SUBJECT_AUTHOR = list(AUTHOR.values())
SUBJECT_REPORTER = list(REPORTER.values())
KEPT = [*OTHER_AUTHOR.values(), *OTHER_REPORTER.values(), OTHER_TEXT]

runner = CliRunner()


def _decide_fully(q: ReviewQueue, item_id: int, label: str, note: str) -> None:
    """Decide as alice; a sampled second review (product default 10%) agrees as bob."""
    q.decide(q.claim(item_id, "alice"), label, note)
    if q.get_item(item_id).status != "decided":
        q.decide(q.claim(item_id, "bob"), label)
    assert q.get_item(item_id).status == "decided"


def _seed(q: ReviewQueue) -> None:
    """Items of one author, reported by one reporter, through ingest, merge, decision,
    escalation and appeal (notes naming the author), and one other person's item."""
    base = {"author": AUTHOR, "reporter": REPORTER}
    q.enqueue(
        [
            make_item(1, text=f"{TEXT} first post", **base),
            make_item(2, text=f"{TEXT} second post", url=URL, **base),
            make_item(3, text=OTHER_TEXT, author=OTHER_AUTHOR, reporter=OTHER_REPORTER),
        ]
    )
    # The platform sends item 1 again with its URL and media: a `merged` audit event.
    q.enqueue([make_item(1, url=URL, media=[{"kind": "image", "url": MEDIA}], **base)])
    _decide_fully(q, 1, "remove-fake-documents", f"repeat poster {AUTHOR['handle']}")
    claim = q.claim(2, "alice")
    q.escalate(claim, f"is {AUTHOR['id']} a journalist? ask {REPORTER['contact']}")
    senior = q.claim_next("sam", ["people-smuggling:senior"])
    assert senior is not None and senior.item_id == 2
    q.decide(senior, "no-violation", f"news report by {AUTHOR['handle']}")
    q.run(
        lambda s: open_appeal(
            s, item_id=1, note=f"{AUTHOR['handle']} says it is news", actor="bob", now=q.clock()
        )
    )
    appeal = q.claim_next("sue", ["people-smuggling:senior"])
    assert appeal is not None
    q.decide(appeal, "remove-fake-documents", "upheld")


def _verified(q: ReviewQueue) -> None:
    report = q.read(lambda s: verify_chain(s))
    assert report.ok, report.problem


def test_the_scan_sees_every_text_and_json_column(database_url: str) -> None:
    columns = text_columns(database_url)
    assert {"text", "url", "media", "author_id", "author_handle", "reporter"} <= set(
        columns["item"]
    )
    assert {"before", "after", "detail"} <= set(columns["audit_event"])
    assert "data" in columns["audit_personal"] and "note" in columns["decision"]


def test_seeded_data_is_found_where_it_is_stored(review_queue: ReviewQueue) -> None:
    _seed(review_queue)
    hits = occurrences(
        review_queue.engine.url.render_as_string(hide_password=False),
        [*SUBJECT_CONTENT, *SUBJECT_AUTHOR, *SUBJECT_REPORTER],
    )
    # Nothing personal in the chained payload: only in the items, notes and side table.
    assert not [h for h in hits if h.startswith("audit_event.")]
    assert "audit_personal.data: " + URL in hits
    assert "decision.note: " + AUTHOR["handle"] in hits
    assert "appeal.note: " + AUTHOR["handle"] in hits
    assert "item.reporter: " + REPORTER["contact"] in hits
    _verified(review_queue)


def test_retention_job_purges_reporters_and_content_after_the_final_decision(
    review_queue: ReviewQueue, clock: Clock
) -> None:
    q = review_queue
    url = q.engine.url.render_as_string(hide_password=False)
    _seed(q)
    # One item a batch, to go through the job's batching (the product default is 1000).
    config = ModqueueConfig(retention=RetentionConfig(batch_size=1))
    (job,) = [j for j in default_jobs(config) if j.name == "retention"]
    clock.advance(days=29)
    (early,) = run_once([job], JobContext(queue=q, config=config))
    assert early.ok and early.value.reporters == 0
    assert occurrences(url, SUBJECT_REPORTER) != []
    clock.advance(days=2)
    (month,) = run_once([job], JobContext(queue=q, config=config))
    assert month.ok and month.value.reporters == 2 and month.value.contents == 0
    assert occurrences(url, SUBJECT_REPORTER) == []
    assert occurrences(url, [TEXT, URL]) != []
    clock.advance(days=150)
    (later,) = run_once([job], JobContext(queue=q, config=config))
    assert later.ok and later.value.contents == 2
    assert occurrences(url, [*SUBJECT_REPORTER, *SUBJECT_CONTENT]) == []
    # The pending item keeps everything (its reporter also keys a flood-folding count);
    # decisions keep their notes (documented).
    assert occurrences(url, KEPT) == sorted(
        {
            f"item.{c}: {v}"
            for c, v in (
                ("author_id", OTHER_AUTHOR["id"]),
                ("author_handle", OTHER_AUTHOR["handle"]),
                ("reporter", OTHER_REPORTER["id"]),
                ("reporter", OTHER_REPORTER["contact"]),
                ("text", OTHER_TEXT),
            )
        }
        | {f"flood_hit.key: {OTHER_REPORTER['id']}"}
    )
    _verified(q)
    with q.session() as s:
        purges = list(
            s.scalars(select(AuditEvent).where(col(AuditEvent.event) == "retention_purged"))
        )
    assert sorted((e.detail or {})["what"] for e in purges) == ["content"] * 2 + ["reporter"] * 2
    # Nothing is left to do: a further run purges nothing.
    (again,) = run_once([job], JobContext(queue=q, config=config))
    assert again.value.reporters == again.value.contents == 0


def _cli(url: str, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, [*args, "--db", url])
    return result.exit_code, result.stdout + result.stderr


def _add(q: ReviewQueue, name: str, role: str, *, actor: str | None) -> str:
    return q.run(
        lambda s: add_reviewer(
            s, actor=actor, name=name, role=role, policies=["people-smuggling"], now=q.clock()
        )
    ).token


def test_erase_author_and_reporter_leaves_nothing_of_them(review_queue: ReviewQueue) -> None:
    q = review_queue
    url = q.engine.url.render_as_string(hide_password=False)
    _seed(q)
    tokens = {
        "root": _add(q, "root", "admin", actor=None),
        "lena": _add(q, "lena", "lead", actor="root"),
    }
    code, out = _cli(
        url, "erase", "--author", AUTHOR["id"], "--reviewer", "lena", "--token", tokens["lena"]
    )
    assert code != 0 and "erase a person's data" in out
    assert occurrences(url, SUBJECT_AUTHOR) != []

    code, out = _cli(
        url,
        "erase",
        "--author",
        AUTHOR["id"],
        "--reviewer",
        "root",
        "--token",
        tokens["root"],
        "--json",
    )
    assert code == 0, out
    report = json.loads(out)
    assert report["subject"] == "author" and report["items"] == [1, 2]
    assert occurrences(url, [*SUBJECT_AUTHOR, *SUBJECT_CONTENT]) == []
    assert occurrences(url, SUBJECT_REPORTER) != []  # the reporter is another person

    code, out = _cli(
        url,
        "erase",
        "--reporter",
        REPORTER["contact"],
        "--reviewer",
        "root",
        "--token",
        tokens["root"],
    )
    assert code == 0, out
    assert occurrences(url, [*SUBJECT_AUTHOR, *SUBJECT_CONTENT, *SUBJECT_REPORTER]) == []
    # The other person's item is untouched (with its reporter's flood-folding count).
    assert len(occurrences(url, KEPT)) == 6

    code, out = _cli(url, "audit", "verify")
    assert code == 0, out
    with q.session() as s:
        erased = list(
            s.scalars(select(AuditEvent).where(col(AuditEvent.event) == "personal_data_erased"))
        )
        # The log shows where a personal field was, and that it is gone.
        merged = s.scalars(select(AuditEvent).where(col(AuditEvent.event) == "merged")).one()
        shown = event_dict(merged, personal_of(s, [merged.id or 0]).get(merged.id or 0))
    assert [(e.actor, (e.detail or {})["subject"]) for e in erased] == [
        ("root", "author"),
        ("root", "reporter"),
    ]
    assert shown["after"]["url"] == "[erased]"


def test_audit_log_shows_personal_fields_until_erased(review_queue: ReviewQueue) -> None:
    q = review_queue
    _seed(q)
    with q.session() as s:
        merged = s.scalars(select(AuditEvent).where(col(AuditEvent.event) == "merged")).one()
        assert merged.after is not None and set(merged.after["url"]) == {"personal"}
        side = s.get_one(AuditPersonal, merged.id)
        shown = event_dict(merged, side.data)
    assert shown["after"]["url"] == URL
    assert shown["after"]["media"] == [{"kind": "image", "url": MEDIA}]


def test_edited_personal_field_breaks_verification(review_queue: ReviewQueue) -> None:
    q = review_queue
    _seed(q)
    with q.session() as s:
        row = s.scalars(select(AuditPersonal).order_by(col(AuditPersonal.event_id))).first()
        assert row is not None
        path = next(iter(row.data))
        row.data = {**row.data, path: "something else"}
        s.add(row)
    report = q.read(lambda s: verify_chain(s))
    assert not report.ok and report.broken_id == row.event_id
    assert report.problem is not None and path in report.problem


@pytest.mark.parametrize(
    ("toml", "problem"),
    [
        ("reporter_days = 0", "retention.reporter_days"),
        ('content_days = "180"', "retention.content_days"),
        ("export_key_days = -1", "retention.export_key_days"),
        ("keep_forever = true", "retention.keep_forever"),
    ],
)
def test_bad_retention_settings_fail_fast(tmp_path: Any, toml: str, problem: str) -> None:
    path = tmp_path / "modqueue.toml"
    path.write_text(f"[retention]\n{toml}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=problem):
        load_config(path)
