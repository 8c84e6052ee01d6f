"""Guideline values: version hashes, labels, `to_dict`, the set and its routing."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import pytest

from modqueue._exceptions import NotFound, UnknownLabel
from modqueue.guidelines import (
    REVERSAL_OF,
    Action,
    GuidelineSet,
    Label,
    RoutingRules,
    SignalRule,
    load_guidelines,
)

from ._docs import TRIAGE, VALID, write


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    write(tmp_path, "triage.md", TRIAGE)
    write(tmp_path, "sample.md", VALID)
    return tmp_path


def test_parsed_values(folder: Path) -> None:
    g = load_guidelines(folder).get("sample-policy")
    assert (g.title, g.severity, g.sla_hours, g.graphic) == ("Sample policy", 3, 12.0, False)
    assert g.labels == (
        Label("no-violation", "No violation", 1, Action.NONE),
        Label("remove", "Remove", 2, Action.REMOVE),
        Label("escalate", "Escalate", 3, Action.ESCALATE),
    )
    assert g.routing == RoutingRules(
        keywords=("blue widget", "pay on arrival"),
        signals=(SignalRule("sample-clf", 0.6), SignalRule("other-clf", 0.5)),
    )
    assert g.body == "# Sample policy\n\nDefinitions, examples and grey areas."
    assert g.path == folder / "sample.md"


def test_version_is_the_content_hash_and_changes_with_content(folder: Path) -> None:
    path = folder / "sample.md"
    before = load_guidelines(folder).get("sample-policy").version
    assert before == "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    assert load_guidelines(folder).get("sample-policy").version == before

    write(folder, "sample.md", VALID.replace("grey areas.", "grey areas, revised."))
    after = load_guidelines(folder).get("sample-policy").version
    assert after != before
    assert after.startswith("sha256:") and len(after) == len("sha256:") + 16


def test_label_lookup(folder: Path) -> None:
    g = load_guidelines(folder).get("sample-policy")
    assert g.label("remove").action is Action.REMOVE
    with pytest.raises(UnknownLabel) as caught:
        g.label("ban")
    message = str(caught.value)
    assert "'ban'" in message and "'sample-policy'" in message
    assert "no-violation, remove, escalate" in message
    assert isinstance(caught.value, NotFound)


def test_label_for_hotkey(folder: Path) -> None:
    g = load_guidelines(folder).get("sample-policy")
    assert g.label_for_hotkey(2) == g.label("remove")
    assert g.label_for_hotkey(9) is None


def test_to_dict_is_json_ready(folder: Path) -> None:
    g = load_guidelines(folder).get("sample-policy")
    data = json.loads(json.dumps(g.to_dict()))
    assert data == g.to_dict()
    assert data["path"] == str(folder / "sample.md")
    assert data["labels"][1] == {
        "id": "remove",
        "title": "Remove",
        "hotkey": 2,
        "action": "remove",
        "description": "",
    }
    assert data["routing"] == {
        "keywords": ["blue widget", "pay on arrival"],
        "signals": [
            {"prefix": "sample-clf", "min_score": 0.6},
            {"prefix": "other-clf", "min_score": 0.5},
        ],
    }
    assert set(data) == {
        "id", "title", "severity", "sla_hours", "graphic", "version", "labels", "routing",
        "clusters", "body", "path",
    }  # fmt: skip
    assert data["clusters"] == {
        "text_jaccard": 0.8,
        "pdq_distance": 31,
        "propagate": "suggest",
        "propagate_review_share": 0.1,
    }


def test_guideline_is_frozen(folder: Path) -> None:
    g = load_guidelines(folder).get("sample-policy")
    with pytest.raises(dataclasses.FrozenInstanceError):
        g.severity = 1  # type: ignore[misc]


def test_reversals() -> None:
    assert REVERSAL_OF == {
        Action.REMOVE: "restore",
        Action.REMOVE_AND_BAN: "restore_and_unban",
        Action.RESTRICT: "unrestrict",
        Action.REFER_LAW_ENFORCEMENT: "withdraw_referral",
    }
    assert Action("refer_law_enforcement") is Action.REFER_LAW_ENFORCEMENT
    assert Action.NONE not in REVERSAL_OF and Action.ESCALATE not in REVERSAL_OF


def test_set_collection_behaviour(folder: Path) -> None:
    guidelines = load_guidelines(folder)
    assert len(guidelines) == 2
    assert guidelines.ids == ("sample-policy", "triage")
    assert [g.id for g in guidelines] == ["sample-policy", "triage"]
    assert "triage" in guidelines and "hate" not in guidelines
    assert guidelines.directory == folder
    with pytest.raises(NotFound, match=r"no guideline 'hate'.*sample-policy, triage"):
        guidelines.get("hate")
    with pytest.raises(AttributeError):
        guidelines.extra = 1


def test_set_rejects_duplicate_ids(folder: Path) -> None:
    g = load_guidelines(folder).get("triage")
    with pytest.raises(ValueError, match="duplicate guideline id 'triage'"):
        GuidelineSet([g, g], directory=folder)


def _with(folder: Path, name: str, gid: str, severity: int, keywords: str, signal: str) -> None:
    text = (
        VALID.replace("id: sample-policy", f"id: {gid}")
        .replace("severity: 3", f"severity: {severity}")
        .replace('["blue widget", "pay on arrival"]', keywords)
        .replace("prefix: sample-clf", f"prefix: {signal}")
    )
    write(folder, name, text)


def test_route_keywords_are_whole_phrases_case_insensitive(folder: Path) -> None:
    guidelines = load_guidelines(folder)
    assert guidelines.route("Cheap BLUE   Widget here", []) == "sample-policy"
    assert guidelines.route("Pay on arrival!", []) == "sample-policy"
    assert guidelines.route("blue widgets here", []) is None
    assert guidelines.route("navy-blue widgetry", []) is None
    assert guidelines.route(None, []) is None
    assert guidelines.route("", []) is None


def test_route_signals_by_prefix_and_min_score(folder: Path) -> None:
    guidelines = load_guidelines(folder)
    assert guidelines.route(None, [("sample-clf-v3", 0.6)]) == "sample-policy"
    assert guidelines.route(None, [("sample-clf-v3", 0.59)]) is None
    assert guidelines.route(None, [("other-clf", 0.5)]) == "sample-policy"  # default 0.5
    assert guidelines.route(None, [("other-clf", 0.49), ("v2-sample-clf", 0.99)]) is None


def test_route_prefers_severity_then_id(folder: Path) -> None:
    _with(folder, "b.md", "b-policy", 4, '["shared phrase"]', "b-clf")
    _with(folder, "a.md", "a-policy", 4, '["shared phrase"]', "a-clf")
    _with(folder, "z.md", "z-policy", 5, '["urgent phrase"]', "z-clf")
    guidelines = load_guidelines(folder)
    assert guidelines.route("a shared phrase", []) == "a-policy"
    assert guidelines.route("a shared phrase and an urgent phrase", []) == "z-policy"
    assert guidelines.route(None, [("b-clf", 0.9), ("a-clf", 0.9)]) == "a-policy"
    assert guidelines.route("shared phrase", [("z-clf", 0.7)]) == "z-policy"


def test_triage_never_routes(folder: Path) -> None:
    triage = load_guidelines(folder).get("triage")
    routed = dataclasses.replace(triage, routing=RoutingRules(keywords=("anything",)))
    guidelines = GuidelineSet([routed], directory=folder)
    assert guidelines.route("anything at all", []) is None
