"""Layering rules: the domain never imports UI, CLI or HTTP; the stdlib is never shadowed."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import modqueue

PACKAGE = Path(modqueue.__file__).parent
DOMAIN = ["queue", "guidelines"]
DOMAIN_FILES = ["settings.py", "config.py", "_exceptions.py"]
FORBIDDEN = ("textual", "typer", "httpx", "rich", "click")


def _domain_files() -> list[Path]:
    files = [PACKAGE / f for f in DOMAIN_FILES]
    for sub in DOMAIN:
        files.extend((PACKAGE / sub).rglob("*.py"))
    return files


def test_domain_sources_import_no_ui_cli_or_http() -> None:
    offenders = []
    for path in _domain_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            offenders += [
                f"{path.relative_to(PACKAGE)}: {n}" for n in names if n.split(".")[0] in FORBIDDEN
            ]
    assert offenders == []
    assert len(_domain_files()) > 10


def test_importing_the_domain_loads_no_ui_cli_or_http() -> None:
    code = (
        "import sys, modqueue, modqueue.queue, modqueue.guidelines, modqueue.config, "
        "modqueue.settings\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})\n"
        "print(','.join(bad))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == ""


def test_stdlib_queue_is_not_shadowed() -> None:
    code = "import queue; print(queue.__file__); queue.Queue().put(1)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=PACKAGE.parent,
    ).stdout
    assert "modqueue" not in out
