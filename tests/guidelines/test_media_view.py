"""`media_view` in a guideline's front matter: how its items' media first appear."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from modqueue.cli import app
from modqueue.guidelines import DEFAULT_MEDIA_VIEW, MediaView, check_guidelines, load_guidelines

from ._docs import TRIAGE, VALID, write


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    write(tmp_path, "triage.md", TRIAGE)
    return tmp_path


def with_media_view(value: str) -> str:
    return VALID.replace("graphic: false\n", f"graphic: false\nmedia_view: {value}\n")


@pytest.mark.parametrize("value", ["hidden", "blurred", "greyscale", "clear"])
def test_each_media_view_loads(folder: Path, value: str) -> None:
    write(folder, "sample.md", with_media_view(value))
    assert load_guidelines(folder).get("sample-policy").media_view is MediaView(value)


def test_without_media_view_media_start_blurred(folder: Path) -> None:
    write(folder, "sample.md", VALID)
    assert DEFAULT_MEDIA_VIEW is MediaView.BLURRED
    assert load_guidelines(folder).get("sample-policy").media_view is MediaView.BLURRED


def test_a_bad_media_view_is_reported_on_its_line(folder: Path) -> None:
    write(folder, "sample.md", with_media_view("blurry"))
    problems = [(p.line, p.message) for p in check_guidelines(folder)]
    assert problems == [
        (7, "media_view 'blurry' is not one of: clear | greyscale | blurred | hidden")
    ]
    write(folder, "sample.md", with_media_view("[hidden]"))
    assert [(p.line, p.message) for p in check_guidelines(folder)] == [
        (7, "media_view must be text, not a list")
    ]


def test_guidelines_check_names_the_file_and_line(folder: Path) -> None:
    write(folder, "sample.md", with_media_view("soft"))
    result = CliRunner().invoke(app, ["guidelines", "check", str(folder)])
    assert result.exit_code != 0
    assert f"{folder / 'sample.md'}:7: media_view 'soft' is not one of" in result.output


def test_strength_orders_clear_greyscale_blurred_hidden() -> None:
    order = [MediaView.CLEAR, MediaView.GREYSCALE, MediaView.BLURRED, MediaView.HIDDEN]
    assert sorted(MediaView, key=lambda v: v.strength) == order
    assert MediaView.CLEAR.at_least(MediaView.BLURRED) is MediaView.BLURRED
    assert MediaView.HIDDEN.at_least(MediaView.BLURRED) is MediaView.HIDDEN
    assert MediaView.GREYSCALE.at_least(MediaView.CLEAR) is MediaView.GREYSCALE


def test_the_bundled_image_abuse_policy_hides_media() -> None:
    guidelines = load_guidelines()
    assert guidelines.get("image-abuse").media_view is MediaView.HIDDEN
    assert guidelines.get("violent-threats").media_view is MediaView.BLURRED
