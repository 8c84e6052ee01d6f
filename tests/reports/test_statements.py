"""`modqueue report statements`: one statement of reasons per restrictive decision, in the
DSA Transparency Database's statement API shape, checked field by field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from modqueue.cli import app
from modqueue.quality import QualityConfig
from modqueue.queue import ReviewQueue
from tests.conftest import Clock, make_item
from tests.reports.scenario import AUTHOR, ORGANISATION, OTHER, POLICE, REPORTER_CONTACT, seeded

runner = CliRunner()
LEGAL_GROUND = "Immigration Act 1971, s. 25 (assisting unlawful immigration)"
REPORTS_TOML = f"""
[reports]
territorial_scope = ["FR", "DE"]

[reports.policies.people-smuggling]
ground = "illegal"
legal_ground = "{LEGAL_GROUND}"
"""
NOTE = "private reviewer note: do not publish"
TEXT_MARK = "synthetic flagged post"


def _bank_item(queue: ReviewQueue) -> int:
    """An own-initiative hate item with an image, decided `restrict` by a bank match."""
    item = make_item(
        90,
        source="hash-scanner",
        external_id="img/90?x=1",
        policy="hate",
        report_count=0,
        media=[{"kind": "image", "url": "https://cdn.example.org/90.jpg"}],
        author={"id": "a-90", "handle": AUTHOR["handle"]},
    )
    assert queue.enqueue([item]).rejected == []
    claim = queue.claim_next("bank-matcher", ["hate"])
    assert claim is not None
    return queue.decide(claim, "restrict-borderline", NOTE, origin="bank").id


def _statements(db: str, config: Path, out: Path, *args: str) -> list[dict[str, Any]]:
    result = runner.invoke(
        app,
        ["report", "statements", "--db", db, "--config", str(config), "--out", str(out), *args],
    )
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


def test_statements_field_by_field(database_url: str, clock: Clock, tmp_path: Path) -> None:
    config = tmp_path / "reports.toml"
    config.write_text(REPORTS_TOML, encoding="utf-8")
    out = tmp_path / "statements.jsonl"
    with seeded(database_url, clock, tmp_path) as scenario:
        queue = ReviewQueue(database_url, clock=clock)
        queue.quality = QualityConfig(second_review_share=0.0)  # as in the scenario
        try:
            bank_decision = _bank_item(queue)
            guidelines = queue.guidelines
        finally:
            queue.close()
        statements = _statements(
            database_url, config, out, "--since", "2026-11-24", "--until", "2026-11-25"
        )
        raw = out.read_text(encoding="utf-8")

    # one per restrictive standing decision: 6 + 2 police takedowns, 1 other, 1 bank
    assert len(statements) == 10
    by_puid = {s["puid"]: s for s in statements}
    assert len(by_puid) == 10
    smuggling = guidelines.get("people-smuggling")
    drugs = guidelines.get("drug-supply")
    hate = guidelines.get("hate")

    done1 = next(s for p, s in by_puid.items() if p.startswith(f"{POLICE}_done-1_"))
    assert done1 == {
        "decision_visibility": ["DECISION_VISIBILITY_CONTENT_REMOVED"],
        "decision_account": "DECISION_ACCOUNT_TERMINATED",
        "decision_ground": "DECISION_GROUND_ILLEGAL_CONTENT",
        "illegal_content_legal_ground": LEGAL_GROUND,
        "illegal_content_explanation": (
            "Remove offer of forged or stolen identity documents (modqueue guideline "
            f"people-smuggling version {smuggling.version}: {smuggling.title})"
        ),
        "category": "STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY",
        "content_type": ["CONTENT_TYPE_TEXT"],
        "decision_facts": "Remove offer of forged or stolen identity documents",
        "source_type": "SOURCE_TRUSTED_FLAGGER",
        "source_identity": ORGANISATION,
        "automated_detection": "No",
        "automated_decision": "AUTOMATED_DECISION_NOT_AUTOMATED",
        "content_date": "2026-11-24",
        "application_date": "2026-11-24",
        "territorial_scope": ["DE", "FR"],
        "puid": done1["puid"],
    }
    assert done1["puid"].split("_")[1] == "done-1"
    assert done1["puid"].split("_")[2].isdigit()

    done4 = next(s for p, s in by_puid.items() if p.startswith(f"{POLICE}_done-4_"))
    assert done4["decision_ground"] == "DECISION_GROUND_INCOMPATIBLE_CONTENT"
    assert done4["incompatible_content_ground"] == (
        f"modqueue guideline drug-supply version {drugs.version}: {drugs.title}"
    )
    assert done4["incompatible_content_explanation"] == drugs.label("remove-supply").title
    assert done4["decision_facts"] == drugs.label("remove-supply").title
    assert done4["category"] == "STATEMENT_CATEGORY_UNSAFE_AND_PROHIBITED_PRODUCTS"
    assert "decision_account" not in done4  # a removal without a ban
    assert "illegal_content_legal_ground" not in done4

    other = next(s for p, s in by_puid.items() if p.startswith(f"{OTHER}_done-9_"))
    assert other["source_type"] == "SOURCE_ARTICLE_16"
    assert "source_identity" not in other  # a person's notice: never named
    assert other["automated_detection"] == "No"

    bank = next(s for s in statements if s["puid"].endswith(f"_{bank_decision}"))
    assert bank["puid"] == f"hash-scanner_img-90-x-1_{bank_decision}"
    assert bank["decision_visibility"] == ["DECISION_VISIBILITY_CONTENT_DEMOTED"]
    assert bank["source_type"] == "SOURCE_VOLUNTARY"
    assert bank["automated_detection"] == "Yes"
    assert bank["automated_decision"] == "AUTOMATED_DECISION_FULLY"
    assert bank["content_type"] == ["CONTENT_TYPE_IMAGE", "CONTENT_TYPE_TEXT"]
    assert bank["decision_facts"] == hate.label("restrict-borderline").title
    assert bank["category"] == "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH"
    assert "source_identity" not in bank

    # the declined and undelivered takedowns still got a statement: the decision stands
    assert {p.split("_")[1] for p in by_puid if p.startswith(POLICE)} == {
        "done-1",
        "done-2",
        "done-3",
        "declined-1",
        "pending-done-1",
        "down-1",
        "done-4",
        "declined-2",
    }
    # no personal data, no reviewer, no private note, no content text
    secrets = ("rev-1", "bank-matcher", NOTE, REPORTER_CONTACT, TEXT_MARK, *AUTHOR.values())
    for secret in secrets:
        assert secret not in raw
    assert scenario.ids  # the scenario ran

    later = _statements(database_url, config, out, "--since", "2026-11-25")
    assert later == []


def test_statements_refuse_bad_dates(database_url: str, tmp_path: Path) -> None:
    out = tmp_path / "s.jsonl"
    bad = runner.invoke(
        app, ["report", "statements", "--db", database_url, "--since", "soon", "--out", str(out)]
    )
    assert bad.exit_code == 1
    assert "--since 'soon' is not a date" in bad.output
    assert not out.exists()


def test_reports_config_is_checked(tmp_path: Path) -> None:
    from modqueue import ConfigError
    from modqueue.config import load_config

    path = tmp_path / "m.toml"
    path.write_text('[reports.policies.hate]\nground = "illegal"\n', encoding="utf-8")
    try:
        load_config(path)
    except ConfigError as exc:
        assert "reports.policies.hate" in str(exc) and "legal_ground" in str(exc)
    else:
        raise AssertionError("illegal ground without a legal ground was accepted")
    path.write_text('[reports]\nterritorial_scope = ["XX"]\n', encoding="utf-8")
    try:
        load_config(path)
    except ConfigError as exc:
        assert "XX" in str(exc)
    else:
        raise AssertionError("an unknown country was accepted")
