"""A guideline edit updates the project's config; annotations already made stay."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlmodel import select

from modqueue.guidelines import bundled_guidelines_dir
from modqueue.integrations.labelstudio import (
    LabelStudioClient,
    LabelStudioConfig,
    LabelStudioTask,
    pull,
    push,
    setup_project,
)
from modqueue.queue import ReviewQueue
from tests.conftest import Clock
from tests.support.labelstudio_server import LabelStudioServer

from .conftest import ANNOTATOR, annotate, hate_item

pytestmark = pytest.mark.slow  # a real Label Studio server

NEW_LABEL = """  - id: remove-hate-symbol
    title: Remove hate symbol
    hotkey: 6
    action: remove
"""


def test_a_guideline_change_updates_the_config_and_keeps_annotations(
    database_url: str,
    clock: Clock,
    tmp_path: Path,
    ls_server: LabelStudioServer,
    ls_client: LabelStudioClient,
    ls_config: LabelStudioConfig,
    annotators: dict[str, str],
) -> None:
    folder = tmp_path / "guidelines"
    shutil.copytree(bundled_guidelines_dir(), folder)
    queue = ReviewQueue(database_url, guidelines=folder, clock=clock)
    try:
        queue.enqueue([hate_item(1), hate_item(2)])
        push(queue, ls_client, ls_config)
        rows = {r.item_id: r for r in _rows(queue)}
        annotation_id = annotate(
            ls_server, annotators[ANNOTATOR], rows[1].task_id or 0, "remove-hate"
        )
        old_version = queue.guidelines.get("hate").version
    finally:
        queue.close()

    doc = folder / "hate.md"
    text = doc.read_text(encoding="utf-8")
    text = text.replace("routing:\n", NEW_LABEL + "routing:\n", 1)
    text += "\n## Hate symbols\n\nCoded symbols count as hate when aimed at a group.\n"
    doc.write_text(text, encoding="utf-8")

    queue = ReviewQueue(database_url, guidelines=folder, clock=clock)
    try:
        result = setup_project(queue, ls_client, policy="hate", prefix=ls_config.project_prefix)
        assert (result.created, result.updated) == (False, True)
        assert result.guideline_version != old_version
        status, project = ls_server.request(
            "GET", f"/api/projects/{result.project_id}/", token=ls_server.legacy_token
        )
        assert status == 200, project
        assert 'alias="remove-hate-symbol"' in project["label_config"]
        assert "Hate symbols" in project["expert_instruction"]
        status, annotations = ls_server.request(
            "GET", f"/api/tasks/{rows[1].task_id}/annotations/", token=ls_server.legacy_token
        )
        assert status == 200, annotations
        assert [a["id"] for a in annotations] == [annotation_id]

        annotate(ls_server, annotators[ANNOTATOR], rows[2].task_id or 0, "remove-hate-symbol")
        report = pull(queue, ls_client)
        assert report.decided == 2
        assert queue.get_item(2).final_label == "remove-hate-symbol"
    finally:
        queue.close()


def _rows(queue: ReviewQueue) -> list[LabelStudioTask]:
    return queue.run(lambda s: list(s.scalars(select(LabelStudioTask)).all()))
