"""Rows of `COPY (query) TO STDOUT` text, read straight from libpq.

psycopg's `Copy` iteration costs a generator round trip and a `wait` per row. Here the
rows libpq already holds are taken with `PGconn.get_copy_data(1)` (one call per row,
never waiting); when it has none, `consume_input()` takes what the kernel has, and only
then psycopg's `Copy.read()` waits for the server (the GIL released; it also takes the
final result when it sees the end). When our own call sees the end, the final result is
fetched here and a server error raised as psycopg raises it. The lines collected are
joined, decoded and split into lines once per block, and each line cut into its first
`leading` fields and the rest (one string, as `COPY` wrote it).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from itertools import chain
from typing import Any

from modqueue.integrations.export._fragments import NULL

__all__ = ["copy_field", "copy_rows"]

_BLOCK = 2000
"""Rows decoded and cut into lines at a time (at most)."""


_COPY_ESCAPES = {"\\": "\\", "n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", "v": "\v"}
_COPY_ESCAPED = re.compile(r"\\(.)", re.DOTALL)


def _unescape(match: re.Match[str]) -> str:
    return _COPY_ESCAPES.get(match[1], match[1])


def copy_field(field: str) -> str | None:
    """One field of `COPY ... TO` text format: `\\N` is null, backslash escapes undone."""
    if field == NULL:
        return None
    return _COPY_ESCAPED.sub(_unescape, field) if "\\" in field else field


def _escaped_row(line: str, leading: int) -> list[Any]:
    """A line with escapes: its first fields unescaped, the rest as it is."""
    row: list[Any] = line.split("\t", leading)
    for k in range(leading):
        row[k] = copy_field(row[k])
    return row


def _rows_of(lines: list[Any], leading: int) -> list[list[Any]]:
    """Rows from `COPY` lines (memoryviews, each ending in a newline): the first
    `leading` fields and the rest; a null is `\\N` in a row without other escapes,
    else None."""
    text = str(b"".join(lines), "utf-8")
    cut = text.split("\n")
    cut.pop()  # after the last newline
    if len(cut) != len(lines):
        raise ValueError("COPY text: a row is not one line")
    if "\\" in text and "\\" in text.replace("\t\\N", ""):  # escapes: rare
        return [_escaped_row(s, leading) if "\\" in s else s.split("\t", leading) for s in cut]
    return [s.split("\t", leading) for s in cut]


def _copy_blocks(
    raw: Any, sql: str, params: dict[str, Any], leading: int
) -> Iterator[list[list[Any]]]:
    from psycopg import errors, generators, pq

    with raw.cursor() as cur, cur.copy(f"COPY ({sql}) TO STDOUT", params or None) as copy:
        pgconn = raw.pgconn
        get = pgconn.get_copy_data
        lines: list[Any] = []
        while True:
            # Every row libpq has already received, without waiting (`async_=1`).
            size, line = get(1)
            if size > 0:
                lines.append(line)
                if len(lines) < _BLOCK:
                    continue
            if lines:
                yield _rows_of(lines, leading)
                lines = []
            if size == 0:
                # What the kernel has received, without waiting; else psycopg waits
                # (the GIL released) and reads.
                pgconn.consume_input()
                size, line = get(1)
                if size == 0:
                    line = copy.read()
                    if not line:  # the end, and psycopg took the final result
                        return
                    size = len(line)
                if size > 0:
                    lines.append(line)
            if size < 0:  # the end (-1; -2 an error): the final result is ours
                if size < -1:
                    raise errors.OperationalError(pgconn.get_error_message())
                for result in raw.wait(generators.fetch_many(pgconn)):
                    if result.status != pq.ExecStatus.COMMAND_OK:
                        raise errors.error_from_result(result)
                return


def copy_rows(raw: Any, sql: str, params: dict[str, Any], *, leading: int) -> Iterator[list[Any]]:
    """The rows of `sql` as `COPY (sql) TO STDOUT` text, on psycopg connection `raw`,
    streamed: per row its first `leading` fields (a null is `\\N` in a row without
    other escapes, else None) and the text of the other columns as one string."""
    return chain.from_iterable(_copy_blocks(raw, sql, params, leading))
