"""The JSON Lines fast path: the same bytes as `iter_records` + `JsonlWriter.write`,
at a fraction of the cost per record.

On PostgreSQL through psycopg (modqueue's PostgreSQL URLs select it) `_copy` reads the
rows as `COPY` text and encodes them (see there). Elsewhere (SQLite;
PostgreSQL through another driver) rows come through SQLAlchemy in `_records._query`'s
column order, as for the general path, and are encoded here. Either way the query runs
in the caller's read-only transaction and nothing is written or stored, so the export
runs on a read replica.

Each record is written as one string built from its encoded fields in `FIELDS` order
(`json.encoder`'s C string encoder and `json`'s float spelling, `NaN` included), so it
equals `json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode(record)`.
Pseudonyms are computed once per distinct reviewer and author (`Pseudonymiser`'s caches;
the key never leaves this process), an item in a cluster takes its cluster's split (once
per cluster), any other item the split ingest stored for its content (`content_split`,
computed here only where it is null: stored before migration 0028, or content changed
since), and the card's counts are tallied per distinct key and added at the end.
`tests/integrations/export/test_export_fast.py` compares both paths byte for byte.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from json.encoder import encode_basestring
from typing import Any

from sqlalchemy import Connection

from modqueue.guidelines import Action
from modqueue.integrations.export._card import CardStats
from modqueue.integrations.export._copy import (
    PG_SETTINGS,
    copy_rows,
    encode_copy,
    finish_copy_stats,
    pg_sql,
)
from modqueue.integrations.export._fragments import Fragments, Tally, float_json
from modqueue.integrations.export._privacy import Pseudonymiser
from modqueue.integrations.export._records import _query
from modqueue.integrations.export._writers import JsonlWriter
from modqueue.quality import item_agreement
from modqueue.queue import (
    TRIAGE,
    DecisionStatus,
    mask_pii,
    split_for,
)

__all__ = ["write_jsonl"]

_ESCALATE = Action.ESCALATE.value
_ACTIVE = DecisionStatus.ACTIVE.value


def _sqlalchemy_rows(
    conn: Connection, policy: str | None, since: datetime | None, batch: int
) -> Iterator[Any]:
    result = conn.execution_options(stream_results=True, yield_per=batch).execute(
        _query(policy, since)
    )
    yield from result


def _aware_iso(at: datetime | None) -> str:
    return "null" if at is None else '"' + at.isoformat() + '"'


def _groups(rows: Iterable[Any]) -> Iterator[list[Any]]:
    group: list[Any] = []
    current = None
    for row in rows:
        if row[0] != current:
            if group:
                yield group
            group = [row]
            current = row[0]
        else:
            group.append(row)
    if group:
        yield group


WriteLine = Callable[..., None]
"""`JsonlWriter.write_line`'s signature: `(split, line, *, media, agreement)`."""


def write_jsonl(
    conn: Connection,
    names: Pseudonymiser,
    writer: JsonlWriter,
    stats: CardStats,
    *,
    policy: str | None = None,
    since: datetime | None = None,
    batch: int = 2000,
) -> None:
    """Write every decided item's record to `writer` and count it in `stats`."""
    # psycopg (the driver modqueue's PostgreSQL URLs select) streams COPY text; any other
    # database or driver gives its rows through SQLAlchemy, as on SQLite.
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        # Through SQLAlchemy first, so the read-only transaction is the one it began.
        for setting in PG_SETTINGS:
            conn.exec_driver_sql(setting)
        sql, params = pg_sql(policy, since)
        raw = conn.connection.driver_connection
        got = encode_copy(copy_rows(raw, sql, params), names, writer, stats.add_labels)
        finish_copy_stats(stats, *got)
        return
    rows = _sqlalchemy_rows(conn, policy, since, batch)
    tally, first, last = encode_records(rows, names, writer.write_line, stats.add_labels)
    stats.add_tally(tally)
    stats.first, stats.last = first, last


def encode_records(
    rows: Iterable[Any],
    names: Pseudonymiser,
    write_line: WriteLine,
    add_labels: Callable[[str, list[str]], None],
) -> tuple[Tally, datetime | None, datetime | None]:
    """Encode the records of SQLAlchemy `rows` (`_query`'s columns) into `write_line`,
    calling `add_labels` for every item with two or more labels, in order: the records'
    tally and their first and last `decided_at` (None when none)."""
    iso = _aware_iso
    s = encode_basestring
    author_of = names.author
    # Encoded fragments, once per distinct value, as the COPY path encodes them.
    enc = Fragments(names)
    heads, kinds, seconds_of, abouts, guidelines, automated_of = (
        enc.heads,
        enc.kinds,
        enc.seconds,
        enc.abouts,
        enc.guidelines,
        enc.automated,
    )
    tally: Tally = Counter()
    first: Any = None
    last: Any = None
    for group in _groups(rows):
        row = group[0]
        source, external_id, raw_text, url = row[1], row[2], row[3], row[4]
        media = row[5]
        author_id, final_label, decided_at = row[6], row[8], row[9]
        parts = []
        labels: dict[str, str] = {}
        final = group[-1]
        for r in group:
            label, kind = r[11], r[15]
            key = (r[10], label, r[13])
            head = heads.get(key) or enc.head(*key)
            middle = kinds.get(kind) or enc.kind(kind)
            seconds = seconds_of.get(r[14]) or enc.second(r[14])
            parts.append(f"{head}{seconds}{middle}{iso(r[19])}}}")
            if r[12] != _ESCALATE:
                labels[r[10]] = label
                if label == final_label and r[16] == _ACTIVE:
                    final = r
        text = mask_pii(raw_text) if raw_text else ""
        cluster_id = row[21]
        if cluster_id is None or cluster_id == "":
            split = row[22]
            if not split:  # not stored yet, or the content changed since
                split = split_for(
                    text=text,
                    url=url,
                    media=media,
                    source=source,
                    external_id=external_id,
                    masked=True,
                )
        else:
            split = enc.cluster_split(cluster_id)
        item_policy = row[7] or TRIAGE
        agreement = None
        if len(labels) > 1:
            values = list(labels.values())
            agreement = item_agreement(values)
            add_labels(item_policy, values)
        agreement_json = "null" if agreement is None else float_json(agreement)
        media_out = (
            enc.encode_media([{"kind": m.get("kind"), "url": m.get("url")} for m in media])
            if media
            else "[]"
        )
        appeal = row[20] or "none"
        decided_json = iso(decided_at)
        what = (item_policy, final_label, final[12])
        about = abouts.get(what) or enc.about(*what)
        guideline = (final[17], final[18])
        under = guidelines.get(guideline) or enc.guideline(*guideline)
        author = author_of(source, author_id) or ""
        automated = automated_of.get(final[13]) or enc.automation(final[13])
        write_line(
            split,
            f'{{"id":{s(f"{source}:{external_id}")},"source":{s(source)},"text":{s(text)}'
            f',"url":{s(url or "")},"media":{media_out},"author":{s(author)}{about}'
            f'{",".join(parts)}],"agreement":{agreement_json}{under}{decided_json}'
            f',"appeal":{s(appeal)},"split":"{split}","automated":{automated}}}\n',
            media=bool(media),
            agreement=agreement is not None,
        )
        tally[(split, item_policy, final_label, final[17], final[18], appeal)] += 1
        if decided_json != "null":
            if first is None or decided_at < first:
                first = decided_at
            if last is None or decided_at > last:
                last = decided_at
    return tally, first, last
