"""The PostgreSQL fast path's reading of `COPY` text (`_copy_text`) and its shapes:
rows across blocks and waits, escapes and nulls, an error in the middle of the stream,
seconds written as the server's text, and a shape cache that overflows.

PostgreSQL only (SQLite has no `COPY`; its fast path reads through SQLAlchemy).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import make_url

from modqueue.integrations.export import _copy, _copy_text, export_dataset
from modqueue.integrations.export._fragments import float_json
from modqueue.integrations.export._privacy import Pseudonymiser
from modqueue.queue import ReviewQueue
from tests.conftest import Clock, fresh_pg_database, release_pg_database
from tests.integrations.export.conftest import seed


@pytest.fixture
def pg_url(request: pytest.FixtureRequest) -> Iterator[str]:
    url, name = fresh_pg_database(request.getfixturevalue("pg_template"))
    yield url
    release_pg_database(name)


@pytest.fixture
def raw(pg_url: str) -> Iterator[psycopg.Connection[Any]]:
    conninfo = make_url(pg_url).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(conninfo) as conn:
        for setting in _copy.PG_SETTINGS:
            conn.execute(setting)
        yield conn


def test_rows_across_blocks_and_waits_with_escapes_and_nulls(
    raw: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Blocks of three rows; the server sleeps after 16 kB of rows, so the reader waits
    for it (through psycopg's `Copy.read`); nulls and escapes in both kinds of field."""
    reads: list[int] = []
    read = psycopg.Copy.read

    def counted(self: psycopg.Copy) -> Any:
        reads.append(1)
        return read(self)

    monkeypatch.setattr(psycopg.Copy, "read", counted)
    monkeypatch.setattr(_copy_text, "_BLOCK", 3)
    sql = (
        "SELECT x, CASE WHEN x % 7 = 0 THEN NULL ELSE 'v' || x END,"
        " CASE WHEN x = 5 THEN E'tab\\there \\\\ back' ELSE repeat('a', 1000) END,"
        " 3, 4, 5, 6, 7, 8, 9, 'shape', E'with\\ttab', 'end',"
        " pg_sleep(CASE WHEN x = 20 THEN 0.2 ELSE 0 END)"
        " FROM generate_series(1, 40) x ORDER BY x"
    )
    rows = list(_copy.copy_rows(raw, sql, {}))
    assert len(rows) == 40
    assert reads  # waited for the server at least once
    for x, row in enumerate(rows, start=1):
        assert row[0] == str(x)
        # Every row has an escape (in its shape): its nulls are None.
        assert row[1] == (None if x % 7 == 0 else f"v{x}")
        assert row[2] == ("tab\there \\ back" if x == 5 else "a" * 1000)
        assert row[3:10] == ["3", "4", "5", "6", "7", "8", "9"]
        assert row[10] == "shape\twith\\ttab\tend\t"  # the shape stays COPY text
    plain = list(_copy.copy_rows(raw, "SELECT x, NULL FROM generate_series(1, 5) x", {}))
    assert plain == [[str(x), "\\N"] for x in range(1, 6)]  # no escapes: `\N` kept


def test_an_error_in_the_middle_of_the_copy_is_raised(raw: psycopg.Connection[Any]) -> None:
    sql = "SELECT x, repeat('a', 100), 1 / (x - 3000) FROM generate_series(1, 5000) x"
    got = 0
    with pytest.raises(psycopg.errors.DivisionByZero):
        for _ in _copy.copy_rows(raw, sql, {}):
            got += 1
    assert got < 3000
    raw.rollback()
    assert raw.execute("SELECT 1").fetchone() == (1,)


def test_seconds_text_is_the_jsons_float(raw: psycopg.Connection[Any]) -> None:
    """Where `Shapes.seconds_json` writes the server's text as it is, that is what
    `json` writes for the float (`repr`), over many magnitudes and the edges."""
    rng = random.Random(17)
    values = [
        0.0, -0.0, 1.0, 0.1, 0.5, 1 / 3, 2 / 3, 12.5, 59.999, 1e-4, 1.5e-4, 9.99e-5, 1e-5,
        1e14, 123456789012345.6, 999999999999999.9, 1e15, 1.5e15, 9007199254740993.0,
        1e16, 1.2345e16, 1e22, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308,
        math.inf, -math.inf, math.nan,
    ]  # fmt: skip
    for exponent in range(-8, 20):
        values += [rng.random() * 10.0**exponent for _ in range(60)]
        values += [round(rng.random() * 10.0**exponent, 3) for _ in range(20)]
    rows = list(_copy.copy_rows(raw, "SELECT unnest(%(v)s::float8[])", {"v": values}))
    shapes = _copy.Shapes(Pseudonymiser(b"k" * 32))
    as_is = 0
    for value, (got,) in zip(values, rows, strict=True):
        assert shapes.seconds_json(got) == float_json(value), (value, got)
        as_is += shapes.seconds_json(got) is got
    assert as_is > len(values) // 2


def test_a_full_shape_cache_keeps_bytes_and_statistics(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With room for two shapes only (fewer than the seeded data has), shapes are made
    again and their counts folded into the tally: the general path's bytes and stats."""
    seeded = seed(pg_url, Clock())
    monkeypatch.setattr(_copy, "_SHAPES", 2)
    with ReviewQueue(seeded.url, clock=seeded.clock) as q:
        now = seeded.clock()
        general = export_dataset(q.engine, out=tmp_path / "general", now=now, fast=False)
        fast = export_dataset(q.engine, out=tmp_path / "fast", now=now)
    assert general.records > 0
    assert fast.stats == general.stats
    files = sorted(p.name for p in (tmp_path / "fast").iterdir())
    for name in files:
        assert (tmp_path / "fast" / name).read_bytes() == (tmp_path / "general" / name).read_bytes()
