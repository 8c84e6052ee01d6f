"""Scan every text and JSON column of every table for given strings."""

from __future__ import annotations

import sqlalchemy as sa

from modqueue.queue import make_engine


def text_columns(url: str) -> dict[str, list[str]]:
    """`{table: [column]}` for every column of a string or JSON type (by introspection)."""
    engine = make_engine(url)
    try:
        inspector = sa.inspect(engine)
        found: dict[str, list[str]] = {}
        for table in inspector.get_table_names():
            names = [
                c["name"]
                for c in inspector.get_columns(table)
                if isinstance(c["type"], sa.String | sa.Text | sa.JSON)
            ]
            if names:
                found[table] = names
        return found
    finally:
        engine.dispose()


def occurrences(url: str, needles: list[str]) -> list[str]:
    """`table.column: needle` for every stored value containing one of `needles`."""
    engine = make_engine(url)
    hits: list[str] = []
    try:
        with engine.connect() as conn:
            for table, columns in text_columns(url).items():
                for column in columns:
                    query = sa.select(sa.cast(sa.column(column), sa.Text)).select_from(
                        sa.table(table)
                    )
                    for (value,) in conn.execute(query):
                        for needle in needles:
                            if value is not None and needle in value:
                                hits.append(f"{table}.{column}: {needle}")
    finally:
        engine.dispose()
    return sorted(set(hits))
