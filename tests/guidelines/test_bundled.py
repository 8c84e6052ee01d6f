"""The bundled guidelines and sample items: they load, cover every policy and route."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from modqueue.guidelines import (
    TRIAGE_ID,
    Action,
    GuidelineSet,
    bundled_guidelines_dir,
    check_guidelines,
    load_guidelines,
)

SAMPLES = Path(__file__).resolve().parents[2] / "modqueue" / "data" / "sample_items.jsonl"

POLICIES = {
    # id: (severity, sla_hours, graphic)
    "people-smuggling": (5, 4, False),
    "drug-supply": (4, 12, False),
    "doxxing": (5, 2, False),
    "violent-threats": (5, 4, True),
    "image-abuse": (4, 8, True),
    "hate": (3, 24, False),
    "triage": (2, 24, False),
}

# Items without a `policy`: where the bundled routing rules must send them (None: triage).
EXPECTED_ROUTES: dict[str, str | None] = {
    "post-8901": "people-smuggling",  # keywords "channel crossing", "pay on arrival"
    "post-8920": "people-smuggling",  # signal smuggling-clf-v3 0.77
    "post-5801": "drug-supply",  # keyword "plant sitter"
    "post-5820": "drug-supply",  # signal drugs-clf-v2 0.84
    "post-3501": "doxxing",  # keywords "who knows this", "where he lives"
    "post-3520": "doxxing",  # "wanted poster" (5) beats "you're next" (5) by id
    "post-7301": "violent-threats",  # signal violence-clf-v2 0.81
    "hm-ncii-0412": "image-abuse",  # signal ncii-hash-pdq 0.97
    "post-6320": "image-abuse",  # keyword "leaked pics"
    "post-4301": "hate",  # keyword "invaders"
    "post-4320": "hate",  # signal hate-clf-v1 0.79 (drugs-clf-v1 0.1 too low)
    "post-1001": None,
    "post-1002": None,  # spam-clf and a low smuggling score: nothing matches
    "post-1003": None,
    "post-1004": None,  # media only
}


@pytest.fixture(scope="module")
def bundled() -> GuidelineSet:
    return load_guidelines()


@pytest.fixture(scope="module")
def samples() -> list[dict[str, Any]]:
    with SAMPLES.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _signals(item: dict[str, Any]) -> list[tuple[str, float]]:
    return [(s["name"], float(s["score"])) for s in item.get("signals", [])]


def test_bundled_folder_is_clean(bundled: GuidelineSet) -> None:
    assert check_guidelines() == []
    assert bundled.directory == bundled_guidelines_dir()
    assert set(bundled.ids) == set(POLICIES)


@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_bundled_policy_shape(bundled: GuidelineSet, policy: str) -> None:
    g = bundled.get(policy)
    severity, sla, graphic = POLICIES[policy]
    assert (g.severity, g.sla_hours, g.graphic) == (severity, sla, graphic)
    actions = {label.action for label in g.labels}
    assert Action.NONE in actions and Action.ESCALATE in actions
    assert [label.hotkey for label in g.labels] == list(range(1, len(g.labels) + 1))
    assert g.labels[0].id == "no-violation"
    if policy == TRIAGE_ID:
        assert [label.action for label in g.labels] == [
            Action.NONE,
            Action.REMOVE,
            Action.ESCALATE,
        ]
        assert not g.routing
    else:
        assert 4 <= len(g.labels) <= 7
        assert g.routing.keywords and g.routing.signals
        assert "## Grey areas" in g.body


def test_samples_are_valid_ingest_records(samples: list[dict[str, Any]]) -> None:
    assert len(samples) >= 72
    ids = [item["external_id"] for item in samples]
    assert len(ids) == len(set(ids))
    sources = {"platform-reports", "classifier", "hash-match", "iru-referrals", "trusted-flagger"}
    assert {item["source"] for item in samples} == sources
    for item in samples:
        assert item.get("text") or item.get("url") or item.get("media"), item["external_id"]
        assert "2026-11-20" <= item["flagged_at"][:10] <= "2026-11-24"
        urls = [item.get("url")] + [m["url"] for m in item.get("media", [])]
        for url in filter(None, urls):
            host = urlparse(url).hostname or ""
            assert host.rsplit(".", 2)[-2:] in (
                ["example", "org"],
                ["example", "com"],
                ["example", "net"],
            ), url
    assert sum(item.get("views", 0) > 1_000_000 for item in samples) >= 3
    assert sum("reporter" in item for item in samples) >= 10


def test_samples_cover_every_policy(samples: list[dict[str, Any]], bundled: GuidelineSet) -> None:
    counts = Counter(item.get("policy") for item in samples)
    for policy in bundled.ids:
        routed = sum(
            1
            for item in samples
            if "policy" not in item
            and (bundled.route(item.get("text"), _signals(item)) or TRIAGE_ID) == policy
        )
        assert counts[policy] + routed >= 8, policy
    assert set(counts) - {None} <= set(bundled.ids)


def test_samples_without_policy_route_as_expected(
    samples: list[dict[str, Any]], bundled: GuidelineSet
) -> None:
    unpoliced = {item["external_id"]: item for item in samples if "policy" not in item}
    assert set(unpoliced) == set(EXPECTED_ROUTES)
    routed = {
        external_id: bundled.route(item.get("text"), _signals(item))
        for external_id, item in unpoliced.items()
    }
    assert routed == EXPECTED_ROUTES


def test_every_bundled_label_says_when_it_applies() -> None:
    for guideline in load_guidelines():
        for label in guideline.labels:
            assert label.description, f"{guideline.id}: label {label.id} has no description"
            assert label.description.endswith("."), (guideline.id, label.id)
