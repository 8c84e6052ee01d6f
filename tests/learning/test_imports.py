"""The model loop stays light: no UI, CLI or HTTP, and scikit-learn only when used."""

from __future__ import annotations

import subprocess
import sys


def _loaded(modules: str, roots: tuple[str, ...]) -> str:
    code = (
        f"import sys, {modules}\n"
        f"print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in {roots!r})))"
    )
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()


def test_learning_loads_no_ui_cli_http_or_sklearn() -> None:
    heavy = ("textual", "typer", "httpx", "sklearn", "matplotlib", "joblib")
    assert _loaded("modqueue.learning", heavy) == ""


def test_cli_start_does_not_pay_for_sklearn() -> None:
    assert _loaded("modqueue.cli", ("textual", "sklearn", "matplotlib", "joblib")) == ""
