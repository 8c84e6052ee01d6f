"""Guideline documents for the tests, and helpers to write them into a folder."""

from __future__ import annotations

from pathlib import Path

VALID = """\
---
id: sample-policy
title: Sample policy
severity: 3
sla_hours: 12
graphic: false
labels:
  - id: no-violation
    title: No violation
    hotkey: 1
    action: none
  - id: remove
    title: Remove
    hotkey: 2
    action: remove
  - id: escalate
    title: Escalate
    hotkey: 3
    action: escalate
routing:
  keywords: ["blue widget", "pay on arrival"]
  signals:
    - prefix: sample-clf
      min_score: 0.6
    - prefix: other-clf
---
# Sample policy

Definitions, examples and grey areas.
"""

TRIAGE = """\
---
id: triage
title: Triage
severity: 2
sla_hours: 24
graphic: false
labels:
  - id: no-violation
    title: No violation
    hotkey: 1
    action: none
  - id: needs-specialist-policy
    title: Needs specialist policy
    hotkey: 2
    action: escalate
---
Decide what nothing else matched.
"""


def write(folder: Path, name: str, text: str) -> Path:
    """Write `text` to `folder/name` and return the path."""
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    """Return the 1-based line number of the `occurrence`-th line containing `needle`."""
    seen = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            seen += 1
            if seen == occurrence:
                return number
    raise AssertionError(f"{needle!r} not found {occurrence} time(s)")
