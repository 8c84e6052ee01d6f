"""Import hygiene of the UI: widgets never touch the database, the package imports no
Textual until the app is run, and styles live in .tcss files."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import modqueue.tui

TUI = Path(modqueue.tui.__file__).parent
DB_MODULES = ("sqlalchemy", "sqlmodel", "psycopg", "sqlite3")


def _imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def test_ui_code_never_imports_a_database_driver() -> None:
    offenders = [
        f"{path.relative_to(TUI)}: {name}"
        for path in TUI.rglob("*.py")
        for name in _imports(path)
        if name.split(".")[0] in DB_MODULES
    ]
    assert offenders == []
    assert len(list((TUI / "components").glob("*.py"))) >= 6


def test_importing_the_package_loads_no_textual() -> None:
    code = (
        "import sys, modqueue.tui\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "[]"


def test_styles_live_in_tcss_files() -> None:
    inline = [
        f"{path.relative_to(TUI)}"
        for path in TUI.rglob("*.py")
        if "DEFAULT_CSS" in path.read_text(encoding="utf-8")
        or "CSS = " in path.read_text(encoding="utf-8")
    ]
    assert inline == []
    assert (TUI / "app.tcss").is_file()
