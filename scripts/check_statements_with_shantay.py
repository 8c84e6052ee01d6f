"""Load a `modqueue report statements` file with shantay, an independent reader of DSA
Transparency Database data (https://pypi.org/project/shantay/), and say what it accepted.

shantay needs Python 3.12 or later, so it runs in its own virtual environment, apart
from modqueue's:

    python3.12 -m venv /tmp/shantay-venv && /tmp/shantay-venv/bin/pip install shantay
    /tmp/shantay-venv/bin/python scripts/check_statements_with_shantay.py statements.jsonl

shantay reads the database's daily dumps into a polars frame with one typed column per
field (`shantay.schema.SCHEMA`: the enumerations hold every value the database allows)
and checks it with `shantay.schema.validate`. This script builds that frame from the
statements: each value is cast strictly to shantay's type, so a value outside an
enumeration, a malformed date or an unknown field fails loudly. The fields the database
assigns on receipt (uuid, platform name and id, created_at, released_on) are left null.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl
from shantay.schema import SCHEMA, validate

ASSIGNED_BY_DATABASE = ("uuid", "platform_name", "platform_uid", "created_at", "released_on")
NOT_IN_SHANTAY = ("puid",)  # the platform's own id: the public dumps leave it out


def _value(name: str, value: Any) -> Any:
    if value is None:
        return None
    dtype = SCHEMA[name]
    if dtype == pl.Datetime(time_unit="ms"):
        return datetime.fromisoformat(value)
    if dtype == pl.Date:
        return datetime.fromisoformat(value).date()
    return value


def main(path: Path) -> int:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    unknown = sorted({k for r in rows for k in r} - set(SCHEMA.names()) - set(NOT_IN_SHANTAY))
    if unknown:
        print(f"fields shantay does not know: {', '.join(unknown)}")
        return 1
    columns = {}
    for name, dtype in SCHEMA.items():
        values = [_value(name, r.get(name)) for r in rows]
        if all(v is None for v in values):
            columns[name] = pl.Series(name, values, dtype=dtype)
        else:
            columns[name] = pl.Series(name, values, strict=False).cast(dtype, strict=True)
    frame = pl.DataFrame(columns)
    validate(frame, SCHEMA)
    width = len(SCHEMA.names())
    print(f"shantay accepted {frame.height} statements with {width} typed columns")
    filled = Counter({n: frame[n].null_count() for n in SCHEMA.names()})
    for name in SCHEMA.names():
        nulls = filled[name]
        if nulls == 0:
            state = "all set"
        else:
            state = "absent" if nulls == frame.height else f"{frame.height - nulls} set"
        print(f"  {name}: {state}")
    for name in ("decision_ground", "source_type", "automated_decision", "category"):
        print(f"  {name} counts: {dict(frame[name].value_counts().iter_rows())}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
