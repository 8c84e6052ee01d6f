"""`modqueue labelstudio` once reviewers are registered, against the real server: a lead sets
the project up, the service identity pushes and pulls, a reviewer is refused (audited)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from modqueue.cli import app
from modqueue.queue import ReviewQueue
from tests.access.conftest import add, denials
from tests.support.labelstudio_server import LabelStudioServer

from .conftest import hate_item

pytestmark = pytest.mark.slow  # a real Label Studio server


def test_labelstudio_commands_by_role(
    database_url: str,
    tmp_path: Path,
    ls_server: LabelStudioServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = tmp_path / "modqueue.toml"
    config.write_text(
        f'[labelstudio]\nqueues = ["hate"]\nbatch_size = 2\n'
        f'project_prefix = "id-{tmp_path.name[-12:]}"\nbackoff_s = 0.05\n'
    )
    monkeypatch.setenv("LABEL_STUDIO_URL", ls_server.url)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", ls_server.legacy_token)
    with ReviewQueue(database_url) as queue:
        add(queue, "root", "admin", [], None)
        tokens = {
            "lead-1": add(queue, "lead-1", "lead", ["hate"], "root"),
            "svc": add(queue, "svc", "service", [], "root"),
            "rev-1": add(queue, "rev-1", "reviewer", ["hate"], "root"),
        }
        queue.enqueue([hate_item(i) for i in range(1, 3)])
        runner = CliRunner()

        common = ["--db", database_url, "--config", str(config), "--json"]

        def run(who: str, *args: str) -> tuple[int, str, str]:
            result = runner.invoke(
                app,
                ["labelstudio", *args, "--reviewer", who, *common],
                env={"MODQUEUE_TOKEN": tokens[who]},
            )
            assert result.exception is None or isinstance(result.exception, SystemExit)
            return result.exit_code, result.stdout, result.stderr

        code, _, err = run("svc", "setup", "--policy", "hate")
        assert code == 1 and "(role service) may not set up Label Studio projects" in err
        code, out, err = run("lead-1", "setup", "--policy", "hate")
        assert code == 0, err
        assert json.loads(out)["policy"] == "hate"
        code, _, err = run("rev-1", "push")
        assert code == 1 and "(role reviewer) may not push to or pull from Label Studio" in err
        code, out, err = run("svc", "push")
        assert code == 0, err
        assert json.loads(out)["pushed"] == 2
        code, out, err = run("svc", "pull")
        assert code == 0, err
        assert json.loads(out)["decided"] == 0
        assert [len(denials(queue, who)) for who in ("svc", "rev-1", "lead-1")] == [1, 1, 0]
