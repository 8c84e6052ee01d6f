"""`check_guidelines` reports every problem with the right file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from modqueue._exceptions import GuidelineError
from modqueue.guidelines import GuidelineProblem, check_guidelines, load_guidelines

from ._docs import TRIAGE, VALID, line_of, write


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    write(tmp_path, "triage.md", TRIAGE)
    return tmp_path


def problems_in(folder: Path, name: str) -> list[tuple[int, str]]:
    """Return `(line, message)` for the problems reported against `folder/name`."""
    return [(p.line, p.message) for p in check_guidelines(folder) if p.path == folder / name]


def assert_problem(folder: Path, name: str, line: int, fragment: str) -> None:
    found = problems_in(folder, name)
    assert any(got_line == line and fragment in message for got_line, message in found), (
        f"no problem at line {line} containing {fragment!r}; got {found}"
    )


def test_valid_folder_has_no_problems(folder: Path) -> None:
    write(folder, "sample.md", VALID)
    assert check_guidelines(folder) == []
    assert load_guidelines(folder).ids == ("sample-policy", "triage")


def test_missing_front_matter_is_line_1(folder: Path) -> None:
    write(folder, "plain.md", "# Just a heading\n\nNo front matter.\n")
    assert problems_in(folder, "plain.md") == [
        (1, "missing front matter: the file must start with a '---' line")
    ]


def test_unclosed_front_matter(folder: Path) -> None:
    write(folder, "open.md", VALID.replace("---\n# Sample", "# Sample"))
    assert_problem(folder, "open.md", 1, "never closed")


def test_yaml_syntax_error_reports_its_line(folder: Path) -> None:
    text = VALID.replace("title: Sample policy", "title: [unclosed")
    write(folder, "bad.md", text)
    found = problems_in(folder, "bad.md")
    assert len(found) == 1
    line, message = found[0]
    assert "not valid YAML" in message
    # PyYAML notices the unclosed flow sequence on the line after it opened.
    assert line in (line_of(text, "title: [unclosed"), line_of(text, "title: [unclosed") + 1)


def test_yaml_indentation_error_line(folder: Path) -> None:
    text = VALID.replace("    hotkey: 2", "   hotkey: 2")
    write(folder, "indent.md", text)
    (line, message), *_ = problems_in(folder, "indent.md")
    assert "not valid YAML" in message
    assert line == line_of(text, "   hotkey: 2")


def test_front_matter_that_is_not_a_mapping(folder: Path) -> None:
    write(folder, "list.md", "---\n- one\n- two\n---\nbody\n")
    assert problems_in(folder, "list.md") == [
        (2, "front matter must be a mapping of keys to values")
    ]


def test_empty_front_matter(folder: Path) -> None:
    write(folder, "empty.md", "---\n---\nbody\n")
    assert problems_in(folder, "empty.md") == [(1, "front matter is empty")]


def test_missing_required_keys_are_each_reported(folder: Path) -> None:
    text = VALID.replace("severity: 3\n", "").replace("graphic: false\n", "")
    write(folder, "missing.md", text)
    found = problems_in(folder, "missing.md")
    assert (1, "front matter: missing required key 'severity'") in found
    assert (1, "front matter: missing required key 'graphic'") in found
    assert len(found) == 2


@pytest.mark.parametrize(
    ("old", "new", "fragment"),
    [
        ("severity: 3", "severity: 6", "severity must be 1..5, not 6"),
        ("severity: 3", "severity: high", "severity must be a whole number 1..5"),
        ("severity: 3", "severity: 2.5", "severity must be a whole number 1..5"),
        ("severity: 3", "severity: true", "severity must be a whole number 1..5"),
        ("sla_hours: 12", "sla_hours: 0", "sla_hours must be greater than 0"),
        ("sla_hours: 12", "sla_hours: -3.5", "sla_hours must be greater than 0"),
        ("sla_hours: 12", "sla_hours: soon", "sla_hours must be a number"),
        ("graphic: false", "graphic: maybe", "graphic must be true or false"),
        ("title: Sample policy", "title: ''", "title must not be empty"),
        ("title: Sample policy", "title: 42", "title must be text"),
        ("id: sample-policy", "id: Sample_Policy", "is not a slug"),
        ("id: sample-policy", "id: -sample", "is not a slug"),
        ("id: sample-policy", "id: [a, b]", "id must be text, not a list"),
        ("    action: remove", "    action: delete", "'delete' is not one of: none, remove"),
        ("    hotkey: 2", "    hotkey: 0", "hotkey must be 1..9, not 0"),
        ("    hotkey: 2", "    hotkey: 10", "hotkey must be 1..9, not 10"),
        ("    hotkey: 2", "    description: ''\n    hotkey: 2", "description must not be empty"),
        ("    hotkey: 2", "    description: [a]\n    hotkey: 2", "description must be text"),
        (
            "    hotkey: 2",
            "    description: " + "x" * 301 + "\n    hotkey: 2",
            "label 2 description is 301 characters long",
        ),
        ("  - id: remove", "  - id: Remove It", "label 2 id 'Remove It' is not a slug"),
        ("    - prefix: sample-clf", "    - prefix: ''", "prefix must not be empty"),
        ("      min_score: 0.6", "      min_score: 1.5", "min_score must be between 0 and 1"),
        ('keywords: ["blue widget", "pay on arrival"]', "keywords: blue widget", "list"),
    ],
)
def test_bad_values_report_the_line_of_the_value(
    folder: Path, old: str, new: str, fragment: str
) -> None:
    assert old in VALID
    text = VALID.replace(old, new, 1)
    write(folder, "bad.md", text)
    assert_problem(folder, "bad.md", line_of(text, new.strip().splitlines()[0]), fragment)


def test_a_label_description_is_optional_and_loaded(folder: Path) -> None:
    text = VALID.replace(
        "    hotkey: 2", "    description: Breaks the sample policy.\n    hotkey: 2", 1
    )
    write(folder, "described.md", text)
    guideline = load_guidelines(folder).get("sample-policy")
    assert [label.description for label in guideline.labels] == [
        "",
        "Breaks the sample policy.",
        "",
    ]


def test_unknown_keys_top_level_label_and_routing(folder: Path) -> None:
    text = (
        VALID.replace("graphic: false", "graphic: false\ncolour: red")
        .replace("    action: none", "    action: none\n    shortcut: x")
        .replace("routing:", "routing:\n  regex: '.*'")
    )
    write(folder, "unknown.md", text)
    found = problems_in(folder, "unknown.md")
    assert any(
        line == line_of(text, "colour: red") and "unknown key 'colour'" in message
        for line, message in found
    )
    assert any(
        line == line_of(text, "shortcut: x") and "label 1: unknown key 'shortcut'" in message
        for line, message in found
    )
    assert any(
        line == line_of(text, "regex:") and "routing: unknown key 'regex'" in message
        for line, message in found
    )
    assert len(found) == 3


def test_repeated_front_matter_key(folder: Path) -> None:
    text = VALID.replace("severity: 3", "severity: 3\nseverity: 4")
    write(folder, "twice.md", text)
    assert_problem(folder, "twice.md", line_of(text, "severity: 4"), "appears twice")


def test_duplicate_label_id_and_hotkey(folder: Path) -> None:
    text = VALID.replace("  - id: escalate", "  - id: remove").replace(
        "    hotkey: 3", "    hotkey: 2"
    )
    write(folder, "dupes.md", text)
    assert_problem(
        folder,
        "dupes.md",
        line_of(text, "  - id: remove", occurrence=2),
        f"duplicate label id 'remove' (first on line {line_of(text, '  - id: remove')})",
    )
    assert_problem(
        folder,
        "dupes.md",
        line_of(text, "    hotkey: 2", occurrence=2),
        f"duplicate hotkey 2 in label 3 (first on line {line_of(text, '    hotkey: 2')})",
    )


def test_label_missing_keys_reported_at_the_label(folder: Path) -> None:
    text = VALID.replace("    hotkey: 3\n", "").replace("    title: Escalate\n", "")
    write(folder, "label.md", text)
    line = line_of(text, "  - id: escalate")
    found = problems_in(folder, "label.md")
    assert (line, "label 3: missing required key 'title'") in found
    assert (line, "label 3: missing required key 'hotkey'") in found


def test_too_many_and_too_few_labels(folder: Path) -> None:
    many = "\n".join(
        f"  - id: l{n}\n    title: Label {n}\n    hotkey: {min(n, 9)}\n    action: none"
        for n in range(1, 11)
    )
    text = VALID.split("labels:\n")[0] + "labels:\n" + many + "\n---\nbody\n"
    write(folder, "many.md", text)
    assert_problem(folder, "many.md", line_of(text, "  - id: l1"), "1 to 9 labels, found 10")

    none = VALID.split("labels:\n")[0] + "labels: []\n---\nbody\n"
    write(folder, "none.md", none.replace("sample-policy", "other-policy"))
    assert_problem(folder, "none.md", line_of(none, "labels: []"), "1 to 9 labels, found 0")


def test_empty_body(folder: Path) -> None:
    text = VALID.split("# Sample policy")[0] + "\n   \n"
    write(folder, "nobody.md", text)
    closing = len(VALID.split("# Sample policy")[0].splitlines())
    assert problems_in(folder, "nobody.md") == [
        (
            closing,
            "body is empty: write the definitions, examples and grey areas after the front matter",
        )
    ]


def test_duplicate_guideline_ids_across_files(folder: Path) -> None:
    write(folder, "a.md", VALID)
    write(folder, "b.md", VALID)
    assert problems_in(folder, "a.md") == []
    assert problems_in(folder, "b.md") == [
        (
            line_of(VALID, "id: sample-policy"),
            "duplicate guideline id 'sample-policy' (also used by a.md)",
        )
    ]


def test_triage_must_not_route(folder: Path) -> None:
    text = TRIAGE.replace("---\nDecide", "routing:\n  keywords: [anything]\n---\nDecide")
    write(folder, "triage.md", text)
    assert_problem(
        folder, "triage.md", line_of(text, "keywords: [anything]"), "must not have routing"
    )


def test_folder_without_triage(tmp_path: Path) -> None:
    write(tmp_path, "sample.md", VALID)
    assert [(p.path, p.line) for p in check_guidelines(tmp_path)] == [(tmp_path, 0)]


def test_missing_and_empty_folders(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    assert check_guidelines(missing) == [
        GuidelineProblem(missing, 0, "guideline folder does not exist")
    ]
    write(tmp_path, "notes.txt", "not a guideline")
    assert check_guidelines(tmp_path) == [
        GuidelineProblem(tmp_path, 0, "guideline folder has no .md documents")
    ]


def test_not_utf8(folder: Path) -> None:
    (folder / "latin.md").write_bytes(VALID.encode().replace(b"Sample policy\n", b"Caf\xe9\n", 1))
    assert_problem(folder, "latin.md", line_of(VALID, "title: Sample policy"), "not valid UTF-8")


def test_unknown_yaml_tag_is_a_problem_not_a_crash(folder: Path) -> None:
    text = VALID.replace("title: Sample policy", "title: !!python/name:os.system ''")
    write(folder, "tag.md", text)
    assert_problem(folder, "tag.md", line_of(text, "title: !!python"), "title must be text")


def test_every_problem_in_every_file_is_reported(folder: Path) -> None:
    write(folder, "one.md", VALID.replace("severity: 3", "severity: 0"))
    write(
        folder,
        "two.md",
        VALID.replace("id: sample-policy", "id: two").replace("graphic: false", "graphic: 1"),
    )
    write(folder, "three.md", "no front matter\n")
    problems = check_guidelines(folder)
    assert [(p.path.name, p.line) for p in problems] == [
        ("one.md", line_of(VALID, "severity: 3")),
        ("three.md", 1),
        ("two.md", line_of(VALID, "graphic: false")),
    ]
    with pytest.raises(GuidelineError) as caught:
        load_guidelines(folder)
    assert caught.value.problems == problems
    assert f"{folder / 'one.md'}:{line_of(VALID, 'severity: 3')}: severity must be 1..5" in str(
        caught.value
    )


def test_problem_str() -> None:
    problem = GuidelineProblem(Path("g/hate.md"), 7, "severity must be 1..5, not 9")
    assert str(problem) == "g/hate.md:7: severity must be 1..5, not 9"


def test_cluster_settings_are_read(folder: Path) -> None:
    text = VALID.replace(
        "routing:\n",
        "clusters:\n  text_jaccard: 0.9\n  pdq_distance: 20\n  propagate: auto\n"
        "  propagate_review_share: 0.25\nrouting:\n",
    )
    write(folder, "sample.md", text)
    assert check_guidelines(folder) == []
    settings = load_guidelines(folder).get("sample-policy").clusters
    assert (settings.text_jaccard, settings.pdq_distance) == (0.9, 20)
    assert (settings.propagate, settings.propagate_review_share) == ("auto", 0.25)
    assert load_guidelines(folder).get("triage").clusters.text_jaccard == 0.8


@pytest.mark.parametrize("written", ["off", "Off", '"off"'])
def test_propagate_off_unquoted_is_off_not_false(folder: Path, written: str) -> None:
    text = VALID.replace("routing:\n", f"clusters:\n  propagate: {written}\nrouting:\n")
    write(folder, "sample.md", text)
    assert check_guidelines(folder) == []
    assert load_guidelines(folder).get("sample-policy").clusters.propagate == "off"


@pytest.mark.parametrize(
    ("block", "key", "fragment"),
    [
        ("  text_jaccard: 0\n", "text_jaccard: 0", "clusters.text_jaccard must be greater than 0"),
        ("  text_jaccard: 1.5\n", "text_jaccard: 1.5", "at most 1, not 1.5"),
        ("  text_jaccard: high\n", "text_jaccard: high", "clusters.text_jaccard must be a number"),
        ("  pdq_distance: 300\n", "pdq_distance: 300", "clusters.pdq_distance must be 0..256"),
        ("  pdq_distance: 3.5\n", "pdq_distance: 3.5", "clusters.pdq_distance must be a whole"),
        (
            "  propagate: always\n",
            "propagate: always",
            "'always' is not one of: suggest, auto, off",
        ),
        (
            "  propagate_review_share: 2\n",
            "propagate_review_share: 2",
            "clusters.propagate_review_share must be between 0 and 1",
        ),
        ("  jaccard: 0.5\n", "jaccard: 0.5", "clusters: unknown key 'jaccard'"),
    ],
)
def test_bad_cluster_settings_name_file_line_and_key(
    folder: Path, block: str, key: str, fragment: str
) -> None:
    text = VALID.replace("routing:\n", f"clusters:\n{block}routing:\n")
    write(folder, "sample.md", text)
    assert_problem(folder, "sample.md", line_of(text, key), fragment)
    with pytest.raises(GuidelineError, match=r"sample\.md"):
        load_guidelines(folder)


def test_clusters_must_be_a_mapping(folder: Path) -> None:
    text = VALID.replace("routing:\n", "clusters: 0.8\nrouting:\n")
    write(folder, "sample.md", text)
    assert_problem(
        folder, "sample.md", line_of(text, "clusters: 0.8"), "clusters must be a mapping"
    )
