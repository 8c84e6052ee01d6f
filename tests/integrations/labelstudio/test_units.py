"""Label Studio pieces that need no server: config, labeling XML, predictions, jobs."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from modqueue import ConfigError
from modqueue.config import load_config
from modqueue.guidelines import load_guidelines
from modqueue.integrations.labelstudio import (
    LabelStudioConfig,
    LabelStudioConnection,
    format_ls_time,
    in_share,
    instructions_html,
    labeling_config,
    parse_ls_time,
    predicted_label,
)
from modqueue.scheduler import default_jobs


def test_labeling_config_is_xml_with_every_label_of_the_guideline() -> None:
    for guideline in load_guidelines():
        root = ET.fromstring(labeling_config(guideline))
        choices = root.find("Choices")
        assert choices is not None and choices.get("name") == "verdict"
        aliases = [c.get("alias") for c in choices.findall("Choice")]
        assert sorted(a or "" for a in aliases) == sorted(label.id for label in guideline.labels)
        assert root.find("TextArea") is not None
        assert "$" not in (root.find("Header").get("value") or "")  # type: ignore[union-attr]


def test_instructions_are_the_guideline_body_as_html() -> None:
    guideline = load_guidelines().get("hate")
    html = instructions_html(guideline)
    assert "<h3>Definition</h3>" in html
    assert (
        "<ul>" in html
        and "<ol>" in html
        and "<b>because of their religion or ethnicity</b>" in html
    )
    assert guideline.version in html


def test_the_strongest_signal_becomes_the_pre_annotation() -> None:
    guideline = load_guidelines().get("hate")
    high, low = predicted_label(guideline, 0.91), predicted_label(guideline, 0.1)
    assert high is not None and high.id == "remove-hate"
    assert low is not None and low.id == "no-violation"


def test_share_is_stable_and_roughly_proportional() -> None:
    picked = [in_share("src", f"post-{i}", 0.25) for i in range(4000)]
    assert 800 < sum(picked) < 1200
    assert picked == [in_share("src", f"post-{i}", 0.25) for i in range(4000)]
    assert all(in_share("src", f"post-{i}", 1.0) for i in range(100))
    assert not any(in_share("src", f"post-{i}", 0.0) for i in range(100))


def test_label_studio_times_round_trip_in_the_filter_format() -> None:
    parsed = parse_ls_time("2026-11-24T07:25:56.663744Z")
    assert format_ls_time(parsed) == "2026-11-24T07:25:56.663744Z"


def test_config_section_is_validated_with_the_key_named(tmp_path: Path) -> None:
    path = tmp_path / "modqueue.toml"
    path.write_text('[labelstudio]\nqueues = ["hate"]\nshare = 0.3\nlease = "2h"\n')
    section = load_config(path).labelstudio
    assert section is not None
    assert (section.queues, section.share, section.lease) == (["hate"], 0.3, 7200.0)
    path.write_text("[labelstudio]\nshare = 1.5\n")
    with pytest.raises(ConfigError, match=r"labelstudio\.share"):
        load_config(path)
    path.write_text('[labelstudio]\nqueues = ["hate:senior"]\n')
    with pytest.raises(ConfigError, match=r"labelstudio\.queues"):
        load_config(path)


def test_jobs_exist_only_when_label_studio_is_configured(tmp_path: Path) -> None:
    assert "labelstudio-push" not in [j.name for j in default_jobs(load_config(None))]
    path = tmp_path / "modqueue.toml"
    path.write_text(
        '[labelstudio]\nqueues = ["hate"]\npull_every = "10s"\n'
        "[jobs.labelstudio-push]\nevery = 120\n"
    )
    jobs = {j.name: j.every for j in default_jobs(load_config(path))}
    assert (jobs["labelstudio-push"], jobs["labelstudio-pull"]) == (120.0, 10.0)


def test_connection_comes_from_the_environment_and_hides_the_key() -> None:
    with pytest.raises(ConfigError, match="LABEL_STUDIO_URL"):
        LabelStudioConnection.from_env(environ={})
    with pytest.raises(ConfigError, match="LABEL_STUDIO_API_KEY"):
        LabelStudioConnection.from_env(environ={"LABEL_STUDIO_URL": "http://127.0.0.1:1"})
    conn = LabelStudioConnection.from_env(
        LabelStudioConfig(url="http://fallback:8080", max_attempts=2),
        environ={"LABEL_STUDIO_API_KEY": "secret-key-value"},
    )
    assert (conn.url, conn.max_attempts) == ("http://fallback:8080", 2)
    assert "secret-key-value" not in repr(conn)
