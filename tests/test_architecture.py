"""Layering rules: the domain never imports UI, CLI or HTTP; the stdlib is never shadowed."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import modqueue

PACKAGE = Path(modqueue.__file__).parent
DOMAIN = ["queue", "guidelines", "reports"]
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
        "modqueue.reports, "
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


def _imported_modules(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def test_outside_the_queue_only_its_public_modules_are_imported() -> None:
    queue_dir = PACKAGE / "queue"
    offenders = [
        f"{path.relative_to(PACKAGE)}: {name}"
        for path in PACKAGE.rglob("*.py")
        if queue_dir not in path.parents
        for name in _imported_modules(path)
        if name.startswith("modqueue.queue._")
    ]
    assert offenders == []


def test_migrations_import_nothing_of_the_application() -> None:
    versions = sorted((PACKAGE / "migrations" / "versions").glob("*.py"))
    assert len(versions) > 5
    offenders = [
        f"{path.name}: {name}"
        for path in versions
        for name in _imported_modules(path)
        if name.split(".")[0] == "modqueue"
    ]
    assert offenders == []


# The rows a decision writes and the modules that may write them. The pipeline writes
# decisions and outbox rows; the queue's leases, ingest and deadline sweep write items
# (claims, new items, priority); flood folding the status of folded items and the
# priority of items an unreliable source flagged; the action dispatcher records delivery
# outcomes.
# The decision pipeline: `pipeline.py`, with its set-based part (`bulk.py`) and the
# cluster decisions built on it (`clusters.py`).
_PIPELINE = {
    "queue/_decisions/pipeline.py",
    "queue/_decisions/bulk.py",
    "queue/_decisions/clusters.py",
}
_WRITERS = {
    "Decision": _PIPELINE,
    "OutboundAction": _PIPELINE | {"integrations/actions/_store.py"},
    "Item": _PIPELINE
    | {
        "queue/_claims/leases.py",
        "queue/_items/ingest.py",
        "queue/_items/floods.py",
        "queue/_items/clustering.py",
        "queue/_items/media_hashes.py",
        "queue/deadlines.py",
    },
}
_TABLE_NAMES = {"DECISION": "Decision", "ACTION": "OutboundAction", "ITEM": "Item"}


def test_only_the_pipeline_writes_decision_rows() -> None:
    """No module constructs, inserts or updates `Decision`, `OutboundAction` or `Item`
    rows unless it is one of their writers (the models module only defines them)."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        where = path.relative_to(PACKAGE).as_posix()
        if where in ("queue/_core/models.py", "models.py") or where.startswith("migrations/"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else None
            target = None
            if name in _WRITERS:
                target = name  # a new row
            elif name in ("insert", "update") and node.args:
                arg = node.args[0]
                if isinstance(arg, ast.Name):
                    target = _TABLE_NAMES.get(arg.id, arg.id)
            if target in _WRITERS and where not in _WRITERS[target]:
                offenders.append(f"{where}:{node.lineno}: {target}")
    assert offenders == []
