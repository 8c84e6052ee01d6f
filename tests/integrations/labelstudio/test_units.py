"""Label Studio pieces that need no server: config, labeling XML, predictions, jobs."""

from __future__ import annotations

import html as html_module
import re
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import UTC, datetime
from html.parser import HTMLParser
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
    label_id_of_choice,
    labeling_config,
    parse_ls_time,
    predicted_label,
    task_for_item,
)
from modqueue.queue import Item
from modqueue.scheduler import default_jobs


def test_labeling_config_is_xml_with_every_label_of_the_guideline() -> None:
    for guideline in load_guidelines():
        root = ET.fromstring(labeling_config(guideline))
        choices = root.find("Choices[@name='verdict']")
        assert choices is not None
        aliases = [c.get("alias") for c in choices.findall("Choice")]
        assert sorted(a or "" for a in aliases) == sorted(label.id for label in guideline.labels)
        assert root.find("TextArea") is not None
        assert "$" not in (root.find("Header").get("value") or "")  # type: ignore[union-attr]


def test_instructions_are_the_guideline_body_as_html() -> None:
    guideline = load_guidelines().get("hate")
    html = instructions_html(guideline)
    assert "<h3>Definition</h3>" in html
    assert "<ul>" in html and "<ol>" in html
    assert "<strong>because of their religion or ethnicity</strong>" in html
    assert "<th>Example (written for this guide)</th>" in html
    assert "<td>remove-hate</td>" in html and "<em>them</em>" in html
    assert guideline.version in html
    for label in guideline.labels:
        assert html_module.escape(label.description) in html


class _Text(HTMLParser):
    """The text a browser shows for some HTML, and the tags it used."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


RAW_MARKDOWN = [
    (re.compile(r"\*\*|__"), "strong emphasis markers"),
    (re.compile(r"(?<![\w*])\*(?=\S)|(?<=\S)\*(?![\w*])"), "emphasis markers"),
    (re.compile(r"`"), "code backticks"),
    (re.compile(r"\|\s*-{3}|^\s*\|.*\|\s*$", re.M), "table pipes"),
    (re.compile(r"^\s*#{1,6}\s", re.M), "heading hashes"),
    (re.compile(r"^\s*[-*+]\s", re.M), "list dashes"),
    (re.compile(r"\]\(|\]\["), "link brackets"),
]


@pytest.mark.parametrize("policy", sorted(g.id for g in load_guidelines()))
def test_no_bundled_guideline_shows_raw_markdown_in_the_instructions(policy: str) -> None:
    guideline = load_guidelines().get(policy)
    parser = _Text()
    parser.feed(instructions_html(guideline))
    text = "".join(parser.text)
    for pattern, what in RAW_MARKDOWN:
        found = pattern.search(text)
        assert found is None, f"{policy}: {what} left in the instructions: {found.group()!r}"
    if re.search(r"^\|.*\|\s*$", guideline.body, re.M):
        assert "table" in parser.tags
    assert {"h2", "p", "ul"} <= parser.tags
    assert "<script" not in instructions_html(guideline)


def test_raw_html_and_nested_lists_and_links_in_a_guideline() -> None:
    guideline = replace(
        load_guidelines().get("hate"),
        body=(
            "Intro with <script>alert(1)</script> and a [link](https://example.org/policy).\n\n"
            "- outer\n  - inner\n    - innermost\n\n1. first\n2. second\n"
        ),
    )
    html = instructions_html(guideline)
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert '<a href="https://example.org/policy" target="_blank"' in html
    assert html.count("<ul>") == 4  # the labels, then three nested levels
    assert "• outer" in html and "\u00a0" * 4 + "◦ inner" in html
    assert "\u00a0" * 8 + "▪ innermost" in html
    assert "1. first" in html and "2. second" in html


def test_each_choice_carries_the_label_description_as_its_hint() -> None:
    for guideline in load_guidelines():
        root = ET.fromstring(labeling_config(guideline))
        choices = root.find("Choices[@name='verdict']")
        assert choices is not None
        hints = {c.get("alias"): c.get("hint") for c in choices.findall("Choice")}
        assert hints == {label.id: label.description for label in guideline.labels}


def test_media_show_in_an_image_tag_and_stay_hidden_for_graphic_policies() -> None:
    for guideline in load_guidelines():
        root = ET.fromstring(labeling_config(guideline))
        hidden = root.find("View[@visibleWhen='choice-selected']")
        reveal = root.find("Choices[@name='show_media']")
        if guideline.graphic:
            assert hidden is not None and reveal is not None, guideline.id
            assert hidden.get("whenTagName") == "show_media"
            assert [c.get("value") for c in reveal.findall("Choice")] == [
                hidden.get("whenChoiceValue")
            ]
            assert hidden.find("Image") is not None
        else:
            assert hidden is None and reveal is None, guideline.id
        (image,) = root.iter("Image")
        assert image.get("value") == "$image"


def test_a_task_carries_the_first_image_and_links_the_other_media() -> None:
    guidelines = load_guidelines()
    item = Item(
        id=7,
        source="s",
        external_id="e",
        queue="violent-threats",
        text="t",
        deadline_at=datetime(2026, 11, 24, tzinfo=UTC),
        media=[
            {"kind": "image", "url": "https://cdn.example/a.png"},
            {"kind": "video", "url": "https://cdn.example/b.mp4"},
            {"kind": "image", "url": "https://cdn.example/c.png"},
        ],
    )
    graphic = task_for_item(item, guidelines.get("violent-threats"), "batch")["data"]
    assert graphic["image"] == "https://cdn.example/a.png"
    assert "video: https://cdn.example/b.mp4" in graphic["media_html"]
    assert "image: https://cdn.example/c.png" in graphic["media_html"]
    assert "hidden until you tick Show media" in graphic["context_html"]
    assert "<img" not in graphic["context_html"]
    plain = task_for_item(item, guidelines.get("hate"), "batch")["data"]
    assert "shown below" in plain["context_html"]
    bare = task_for_item(replace_item(item, media=[]), guidelines.get("hate"), "batch")["data"]
    assert bare["image"].startswith("data:image/png;base64,") and bare["media_html"] == ""


def replace_item(item: Item, **changes: object) -> Item:
    return Item(**(item.model_dump() | changes))


@pytest.mark.parametrize(
    ("choice", "label"),
    [
        ("remove-hate", "remove-hate"),  # the alias, as Label Studio's frontend stores it
        ("3 · Remove hateful content", "remove-hate"),  # the value, as scripts post it
        ("  3 · Remove hateful content ", "remove-hate"),
        ("no-such-label", "no-such-label"),  # left for the decision path to refuse
        ("Remove hateful content", "Remove hateful content"),
    ],
)
def test_a_choice_by_alias_or_by_value_gives_the_label_id(choice: str, label: str) -> None:
    assert label_id_of_choice(load_guidelines().get("hate"), choice) == label


def test_a_value_with_a_dollar_in_the_title_maps_back() -> None:
    hate = load_guidelines().get("hate")
    priced = replace(hate, labels=(replace(hate.labels[0], title="Costs $5"), *hate.labels[1:]))
    root = ET.fromstring(labeling_config(priced))
    shown = [c.get("value") for c in root.iter("Choice") if c.get("alias") == "no-violation"]
    assert shown == ["1 · Costs \uff045"]
    assert label_id_of_choice(priced, "1 · Costs \uff045") == "no-violation"
    assert label_id_of_choice(priced, "1 · Costs $5") == "no-violation"


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
