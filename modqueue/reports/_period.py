"""Reporting periods: a year (`2026`), half-year (`2026-H2`), quarter (`2026-Q3`) or month
(`2026-07`), as a half-open UTC interval."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from modqueue._exceptions import ConfigError

__all__ = ["Period", "parse_period"]

_PERIOD = re.compile(r"^(\d{4})(?:-(H[12]|Q[1-4]|\d{2}))?$")


@dataclass(frozen=True, slots=True)
class Period:
    """A reporting period: its name and `[start, end)` in UTC."""

    name: str
    start: datetime
    end: datetime


def _month_start(year: int, month: int) -> datetime:
    year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    return datetime(year, month, 1, tzinfo=UTC)


def parse_period(text: str) -> Period:
    """The period named `text` (`2026`, `2026-H2`, `2026-Q3`, `2026-07`), or `ConfigError`
    saying what is accepted."""
    match = _PERIOD.match(text.strip())
    if not match:
        raise ConfigError(
            f"period {text!r} is not one of YYYY, YYYY-H1, YYYY-H2, YYYY-Q1..YYYY-Q4, YYYY-MM"
        )
    year, part = int(match.group(1)), match.group(2)
    if part is None:
        first, months = 1, 12
    elif part.startswith("H"):
        first, months = 1 + 6 * (int(part[1]) - 1), 6
    elif part.startswith("Q"):
        first, months = 1 + 3 * (int(part[1]) - 1), 3
    else:
        first, months = int(part), 1
        if not 1 <= first <= 12:
            raise ConfigError(f"period {text!r}: month {part} is not 01..12")
    return Period(text.strip(), _month_start(year, first), _month_start(year, first + months))
