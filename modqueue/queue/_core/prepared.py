"""Prepared statements for the hot path: a Core statement compiled once per dialect and
run straight on the driver's cursor.

`Connection.execute` costs far more Python than SQLite takes to run a small statement:
cache lookups, parameter construction, result metadata, events. `Prepared` pays the
compilation once and keeps, per dialect, the SQL string, the order of its parameters,
the bind processors of their types (so an aware datetime or a JSON column is sent as
`execute` would send it) and the result processors of the returned columns (so rows come
back as `execute` would give them). The driver prepares the string itself: `sqlite3`
caches its prepared statements, psycopg prepares a query on the server once it has run
a few times.

On psycopg (PostgreSQL) the statement is compiled once more into PostgreSQL's own
placeholders (`$1`, `$2`, ...; `_numbered`) and run on a `psycopg.RawCursor`, which
sends it as it is. The usual cursor parses the `%(name)s` placeholders out of the text on
every execution, and caches that work only for statements under 4,096 characters: the
claim statement (over 9,000 with its exposure hold and audit append) was parsed anew
each time, about a third of a claim's client CPU. The values and their types are what the
usual cursor sends (the same adapters, in the same order as the placeholders).

Errors of the driver are raised wrapped as SQLAlchemy's (`OperationalError` and so on),
so retries and callers see what `execute` raises; `before_cursor_execute` listeners
still see every statement. Statements with expanding parameters (`IN` over a bound list)
are not supported: their SQL changes with the list.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement

__all__ = ["Prepared"]

_Processor = Callable[[Any], Any] | None
_UNSET = object()  # `Prepared.executemany`: no value processed yet


@dataclass(slots=True)
class _Compiled:
    """One statement compiled for one dialect."""

    sql: str
    names: list[str]  # parameter names in the order the driver wants them (positional)
    positional: bool
    defaults: dict[str, Any]  # values the statement carries itself (None: to be given)
    binds: dict[str, Callable[[Any], Any]]  # bind processors, by parameter name
    types: list[Any]  # the returned columns' types
    raw: bool = False  # psycopg: `sql` has `$n` placeholders, run on a `RawCursor`
    returns: bool | None = None  # whether it returns rows (known after the first run)
    results: list[_Processor] | None = field(default=None)  # built on the first result


_PYFORMAT = re.compile(r"%\((?P<name>[^)]+)\)s|%%")


def _numbered(sql: str) -> tuple[str, list[str]]:
    """A `pyformat` statement (`%(name)s`, `%%`) with PostgreSQL's `$n` placeholders
    instead (one number per distinct name, in order of first use), and its names in the
    order of their numbers."""
    names: list[str] = []
    numbers: dict[str, int] = {}

    def placeholder(m: re.Match[str]) -> str:
        name = m.group("name")
        if name is None:
            return "%"
        if name not in numbers:
            names.append(name)
            numbers[name] = len(names)
        return f"${numbers[name]}"

    return _PYFORMAT.sub(placeholder, sql), names


def _raw_cursor(conn: Connection) -> Any:
    """A `psycopg.RawCursor` on `conn`'s driver connection."""
    import psycopg  # only loaded where the psycopg dialect already has

    return psycopg.RawCursor(conn.connection.driver_connection)  # type: ignore[arg-type]


class Prepared:
    """`statement`, compiled once per dialect and run on the DBAPI cursor.

    ```python
    CLAIM = Prepared(update(ITEM).where(...).values(...).returning(ITEM.c.id))
    rows = CLAIM.rows(conn, {"reviewer": "alice", ...})
    ```
    """

    __slots__ = ("_by_dialect", "_sql_for", "statement")

    def __init__(
        self, statement: ClauseElement, *, sql_for: Callable[[str, str], str] | None = None
    ) -> None:
        """`sql_for(dialect name, compiled SQL)`, when given, returns the SQL to run
        instead (for what Core cannot say, such as SQLite's `INDEXED BY`)."""
        self.statement = statement
        self._sql_for = sql_for
        self._by_dialect: dict[str, _Compiled] = {}

    def _compiled(self, dialect: Dialect) -> _Compiled:
        found = self._by_dialect.get(dialect.name)
        if found is not None:
            return found
        compiled = self.statement.compile(dialect=dialect)
        assert isinstance(compiled, SQLCompiler)
        if compiled.literal_execute_params or compiled.post_compile_params:
            raise ValueError("a Prepared statement cannot have expanding parameters")
        names = list(compiled.positiontup or ()) if compiled.positional else []
        processors = compiled._bind_processors
        columns = getattr(self.statement, "exported_columns", ())
        sql = compiled.string
        if self._sql_for is not None:
            sql = self._sql_for(dialect.name, sql)
        raw = dialect.driver == "psycopg" and dialect.paramstyle == "pyformat"
        if raw:
            sql, names = _numbered(sql)
        found = _Compiled(
            sql=sql,
            names=names,
            positional=bool(compiled.positional) or raw,
            raw=raw,
            defaults=dict(compiled.params),
            binds={k: p for k, p in processors.items() if callable(p)},
            types=[c.type for c in columns],
        )
        self._by_dialect[dialect.name] = found
        return found

    @staticmethod
    def _driver_params(
        c: _Compiled, params: Mapping[str, Any]
    ) -> Sequence[Any] | Mapping[str, Any]:
        values = {**c.defaults, **params}
        for name, process in c.binds.items():
            if name in values:
                values[name] = process(values[name])
        return [values[n] for n in c.names] if c.positional else values

    def driver_call(
        self, dialect: Dialect, params: Mapping[str, Any]
    ) -> tuple[str, Sequence[Any] | Mapping[str, Any]]:
        """`(sql, driver parameters)` to run the statement on a driver cursor of
        `dialect` yourself (`$n` placeholders and a `psycopg.RawCursor` on psycopg, see
        `raw_cursor`), e.g. in a psycopg pipeline; `processed` reads its rows."""
        c = self._compiled(dialect)
        return c.sql, self._driver_params(c, params)

    def raw_cursor(self, dialect: Dialect) -> bool:
        """Whether `driver_call`'s SQL runs on a `psycopg.RawCursor` (`$n` placeholders)."""
        return self._compiled(dialect).raw

    def processed(
        self, dialect: Dialect, raw: Sequence[Sequence[Any]], cursor: Any
    ) -> list[tuple[Any, ...]]:
        """The rows `cursor` (a driver cursor) fetched for `driver_call`'s SQL, values
        processed as `rows` processes them (its `description`, which builds an object per
        column, is read on the first call only)."""
        c = self._compiled(dialect)
        if c.results is None:
            codes = [d[1] for d in cursor.description or ()]
            codes += [None] * (len(c.types) - len(codes))
            c.results = [
                t._cached_result_processor(dialect, code)
                for t, code in zip(c.types, codes, strict=False)
            ]
        procs = c.results
        if not any(procs):
            return [tuple(r) for r in raw]
        return [
            tuple(v if p is None or v is None else p(v) for p, v in zip(procs, r, strict=False))
            for r in raw
        ]

    def _run(self, conn: Connection, params: Mapping[str, Any]) -> tuple[Any, _Compiled]:
        c = self._compiled(conn.dialect)
        driver_params = self._driver_params(c, params)
        cursor = _raw_cursor(conn) if c.raw else conn.connection.cursor()
        if conn.dispatch.before_cursor_execute:
            conn.dispatch.before_cursor_execute(conn, cursor, c.sql, driver_params, None, False)
        try:
            cursor.execute(c.sql, driver_params)
        except conn.dialect.loaded_dbapi.Error as exc:
            cursor.close()
            raise DBAPIError.instance(
                c.sql,
                driver_params,
                exc,
                conn.dialect.loaded_dbapi.Error,
                dialect=conn.dialect,
            ) from exc
        return cursor, c

    def execute(self, conn: Connection, params: Mapping[str, Any]) -> None:
        """Run the statement in `conn`'s transaction, discarding any rows."""
        cursor, _ = self._run(conn, params)
        cursor.close()

    def executemany(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run the statement once per parameter set of `rows` in one driver
        `executemany` (no rows returned), each value processed as `execute` would.

        A bulk write's rows mostly share their datetimes (one `now` per batch) and their
        NULLs: a bound datetime or None is processed once per column and distinct object
        (a JSON column still turns None into `null`), not once per row."""
        if not rows:
            return
        c = self._compiled(conn.dialect)
        if not c.positional:
            raise ValueError("Prepared.executemany needs positional parameters")
        names = c.names
        binds = [(i, c.binds[n]) for i, n in enumerate(names) if n in c.binds]
        last: list[tuple[Any, Any]] = [(_UNSET, None)] * len(names)
        params: list[list[Any]] = []
        for row in rows:
            values = [row[n] if n in row else c.defaults[n] for n in names]
            for i, process in binds:
                value = values[i]
                if value is None or isinstance(value, datetime):
                    seen, out = last[i]
                    if seen is not value:
                        out = process(value)
                        last[i] = (value, out)
                    values[i] = out
                else:
                    values[i] = process(value)
            params.append(values)
        cursor = _raw_cursor(conn) if c.raw else conn.connection.cursor()
        if conn.dispatch.before_cursor_execute:
            conn.dispatch.before_cursor_execute(conn, cursor, c.sql, params, None, True)
        try:
            cursor.executemany(c.sql, params)
        except conn.dialect.loaded_dbapi.Error as exc:
            raise DBAPIError.instance(
                c.sql,
                params,
                exc,
                conn.dialect.loaded_dbapi.Error,
                dialect=conn.dialect,
            ) from exc
        finally:
            cursor.close()

    def rows(self, conn: Connection, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Run the statement in `conn`'s transaction; its rows, values processed as
        `Connection.execute` would."""
        cursor, c = self._run(conn, params)
        try:
            # `description` builds an object per returned column: read on the first run.
            if c.returns is None:
                c.returns = cursor.description is not None
            raw = cursor.fetchall() if c.returns else []
            return self.processed(conn.dialect, raw, cursor)
        finally:
            cursor.close()

    def first(self, conn: Connection, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """The first row (`rows`), or None."""
        found = self.rows(conn, params)
        return found[0] if found else None
