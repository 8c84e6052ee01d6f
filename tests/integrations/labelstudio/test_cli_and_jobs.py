"""`modqueue labelstudio setup|push|pull` and the scheduler jobs, against the real server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from modqueue.cli import app
from modqueue.config import load_config
from modqueue.queue import ItemStatus, ReviewQueue
from modqueue.scheduler import JobContext, default_jobs
from tests.support.labelstudio_server import LabelStudioServer

from .conftest import ANNOTATOR, annotate, hate_item

pytestmark = pytest.mark.slow  # a real Label Studio server


def test_cli_setup_push_pull_and_the_jobs(
    database_url: str,
    tmp_path: Path,
    ls_server: LabelStudioServer,
    annotators: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    prefix = f"cli-{tmp_path.name[-12:]}"
    config = tmp_path / "modqueue.toml"
    config.write_text(
        f'[labelstudio]\nqueues = ["hate"]\nbatch_size = 2\nproject_prefix = "{prefix}"\n'
        "backoff_s = 0.05\n"
    )
    monkeypatch.setenv("LABEL_STUDIO_URL", ls_server.url)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", ls_server.legacy_token)
    with ReviewQueue(database_url) as queue:
        queue.enqueue([hate_item(i) for i in range(1, 4)])
    runner = CliRunner()
    common = ["--db", database_url, "--config", str(config), "--json"]

    result = runner.invoke(app, ["labelstudio", "setup", "--policy", "hate", *common])
    assert result.exit_code == 0, result.output
    project_id = json.loads(result.output)["project_id"]
    result = runner.invoke(app, ["labelstudio", "push", "--limit", "2", *common])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["pushed"] == 2

    # The scheduler's jobs do the rest: push the third item, pull an annotation.
    jobs = {j.name: j for j in default_jobs(load_config(config))}
    with ReviewQueue(database_url) as queue:
        ctx = JobContext(queue=queue, config=load_config(config))
        assert jobs["labelstudio-push"].run(ctx)["pushed"] == 1
        status, body = ls_server.request(
            "GET", f"/api/tasks/?project={project_id}", token=ls_server.legacy_token
        )
        assert status == 200, body
        first = min(int(t["id"]) for t in body["tasks"])
        annotate(ls_server, annotators[ANNOTATOR], first, "remove-hate")
        assert jobs["labelstudio-pull"].run(ctx)["decided"] == 1
        assert queue.get_item(1).status == ItemStatus.DECIDED

    result = runner.invoke(app, ["labelstudio", "pull", *common])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["decided"] == 0
    assert ls_server.legacy_token not in result.output
