"""The JSON Lines fast path: the same bytes as `iter_records` + `JsonlWriter.write`,
at a fraction of the cost per record.

Rows come in `_records._query`'s column order. On PostgreSQL they are read as the text
of `COPY (query) TO STDOUT` (streamed, so the server produces rows while this process
writes them; no per-value conversion in the driver, no SQLAlchemy result processing):
timestamps come as ISO text and are written as the aware UTC datetime writes them,
floats are parsed from PostgreSQL's shortest exact text. On SQLite (and on PostgreSQL
through another driver than psycopg) the rows come through SQLAlchemy as for the general
path. The query runs in the caller's read-only transaction and nothing is written or
stored, so the export runs on a read replica.

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

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from json.encoder import encode_basestring
from typing import Any

from sqlalchemy import Connection

from modqueue.guidelines import Action
from modqueue.integrations.export._card import CardStats
from modqueue.integrations.export._privacy import Pseudonymiser
from modqueue.integrations.export._records import _query
from modqueue.integrations.export._writers import JsonlWriter
from modqueue.quality import item_agreement
from modqueue.queue import (
    TRIAGE,
    AppealStatus,
    DecisionKind,
    DecisionStatus,
    ItemContent,
    is_automated,
    mask_pii,
    split_for,
)

__all__ = ["write_jsonl"]

_ESCALATE = Action.ESCALATE.value
_SECOND = DecisionKind.SECOND_REVIEW
_ACTIVE = DecisionStatus.ACTIVE.value
_INF = float("inf")
_PG_NULL = "\\N"
_NEVER = object()
_CACHE = 4096

# `_query` for PostgreSQL, written out: the same columns, joins, filters and order. Where
# a null writes as the empty value (text, URL, media, policy, appeal, cluster) it is read
# as that value: only `author_id` and the item's `decided_at` come as `\N` when null.
_PG_SELECT = f"""
SELECT i.id, i.source, i.external_id, coalesce(i.text, ''), coalesce(i.url, ''),
       coalesce(i.media::text, '[]'), i.author_id, coalesce(i.policy, ''),
       i.final_label, i.decided_at,
       d.reviewer, d.label, d.action, d.origin, d.seconds_spent, d.kind, d.status,
       d.guideline_id, d.guideline_version, d.decided_at,
       coalesce(a.status, ''), coalesce(i.cluster_id::text, ''), coalesce(i.content_split, '')
FROM item i
JOIN decision d ON d.item_id = i.id
LEFT OUTER JOIN (
    SELECT item_id, max(id) AS appeal_id FROM appeal
    WHERE status != '{AppealStatus.OPEN}' GROUP BY item_id
) latest ON latest.item_id = i.id
LEFT OUTER JOIN appeal a ON a.id = latest.appeal_id
WHERE i.final_label IS NOT NULL AND d.status != '{DecisionStatus.UNDONE.value}'
"""


def _pg_sql(
    policy: str | None, since: datetime | None, ids: tuple[int, int] | None = None
) -> tuple[str, dict[str, Any]]:
    """`_PG_SELECT` with the export's filters; `ids`: only items `lo <= id < hi` (a chunk
    of the parallel export), appeals included."""
    sql, params = _PG_SELECT, dict[str, Any]()
    if ids is not None:
        sql = sql.replace(
            "GROUP BY item_id", "AND item_id >= %(lo)s AND item_id < %(hi)s GROUP BY item_id"
        )
        sql += " AND i.id >= %(lo)s AND i.id < %(hi)s"
        params["lo"], params["hi"] = ids
    if policy == TRIAGE:
        sql += " AND (i.policy IS NULL OR i.policy = %(policy)s)"
        params["policy"] = policy
    elif policy:
        sql += " AND i.policy = %(policy)s"
        params["policy"] = policy
    if since is not None:
        sql += " AND i.updated_at > %(since)s"
        params["since"] = since.astimezone(UTC).replace(tzinfo=None)
    return sql + " ORDER BY i.id, d.id", params


_COPY_ESCAPES = {"\\": "\\", "n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", "v": "\v"}
_COPY_ESCAPED = re.compile(r"\\(.)", re.DOTALL)


def _unescape(match: re.Match[str]) -> str:
    return _COPY_ESCAPES.get(match[1], match[1])


def _copy_field(field: str) -> str | None:
    """One field of `COPY ... TO` text format: `\\N` is null, backslash escapes undone."""
    if field == "\\N":
        return None
    return _COPY_ESCAPED.sub(_unescape, field) if "\\" in field else field


PG_SETTINGS = ("SET LOCAL DateStyle = 'ISO, YMD'", "SET LOCAL extra_float_digits = 1")
"""What `_copy_rows` expects of the transaction: ISO dates, so timestamps read
`YYYY-MM-DD HH:MM:SS[.ffffff]`, and floats in their shortest exact text."""


def _copy_rows(raw: Any, sql: str, params: dict[str, Any]) -> Iterator[list[Any]]:
    """The rows of `sql` as `COPY (sql) TO STDOUT` text fields, on psycopg connection
    `raw` (in a transaction with `PG_SETTINGS`): streamed by the server as it produces
    them, no per-value conversion in the driver."""
    with raw.cursor() as cur, cur.copy(f"COPY ({sql}) TO STDOUT", params or None) as copy:
        for block in copy:
            line = bytes(block).decode()[:-1]
            if "\\" in line and "\\" in line.replace("\t\\N", ""):
                yield [_copy_field(f) for f in line.split("\t")]  # escapes: rare
            else:
                yield line.split("\t")


def _pg_rows(conn: Connection, policy: str | None, since: datetime | None) -> Iterator[list[Any]]:
    """The export's rows through `_copy_rows` on the connection's own transaction."""
    # Through SQLAlchemy first, so the read-only transaction is the one it began.
    for setting in PG_SETTINGS:
        conn.exec_driver_sql(setting)
    sql, params = _pg_sql(policy, since)
    return _copy_rows(conn.connection.driver_connection, sql, params)


def _pg_iso(at: str | None) -> str:
    """A `timestamp` in ISO text (`2026-11-24 09:00:00.5`) as the aware UTC datetime's
    JSON (`"2026-11-24T09:00:00.500000+00:00"`); null as `null`."""
    if at is None or at == _PG_NULL:
        return "null"
    if len(at) > 19:
        return '"' + at[:10] + "T" + at[11:].ljust(15, "0") + '+00:00"'
    return '"' + at[:10] + "T" + at[11:] + '+00:00"'


def _pg_datetime(at: str) -> datetime:
    return datetime.fromisoformat(_pg_iso(at)[1:-1])


def _pg_media(raw: str) -> list[dict[str, Any]] | None:
    return [] if raw == "[]" else json.loads(raw)


def _sqlalchemy_rows(
    conn: Connection, policy: str | None, since: datetime | None, batch: int
) -> Iterator[Any]:
    result = conn.execution_options(stream_results=True, yield_per=batch).execute(
        _query(policy, since)
    )
    yield from result


def _same(value: Any) -> Any:
    return value


def _float(value: float) -> str:
    """A float as `json` writes it (`NaN`, `Infinity` included)."""
    if value != value:
        return "NaN"
    if value == _INF:
        return "Infinity"
    if value == -_INF:
        return "-Infinity"
    return float.__repr__(value)


def _aware_iso(at: datetime | None) -> str:
    return "null" if at is None else '"' + at.isoformat() + '"'


def _clustered(cluster_id: int) -> ItemContent:
    # Only the cluster counts for an item in one (`content_key`).
    return ItemContent(
        text=None, url=None, media=None, source="", external_id="", cluster_id=cluster_id
    )


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


Tally = Counter[tuple[str, str, str, str, str, str]]
"""Records per `(split, policy, label, guideline_id, guideline_version, appeal)`."""
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
    postgres = conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg"
    rows = (
        _pg_rows(conn, policy, since) if postgres else _sqlalchemy_rows(conn, policy, since, batch)
    )
    tally, first, last = encode_records(
        rows, names, writer.write_line, stats.add_labels, postgres=postgres
    )
    finish_stats(stats, tally, first, last, postgres=postgres)


def finish_stats(stats: CardStats, tally: Tally, first: Any, last: Any, *, postgres: bool) -> None:
    """Add `encode_records`' tally and time range to `stats`."""
    stats.add_tally(tally)
    if postgres:  # ISO text orders as the times do
        first = first and _pg_datetime(first)
        last = last and _pg_datetime(last)
    stats.first, stats.last = first, last


def encode_records(
    rows: Iterable[Any],
    names: Pseudonymiser,
    write_line: WriteLine,
    add_labels: Callable[[str, list[str]], None],
    *,
    postgres: bool,
) -> tuple[Tally, Any, Any]:
    """Encode the records of `rows` (`_copy_rows` text fields when `postgres`, else
    SQLAlchemy rows) into `write_line`, calling `add_labels` for every item with two or
    more labels, in order: the records' tally and their first and last `decided_at`
    (ISO text when `postgres`, else datetimes; None when none)."""
    iso: Callable[[Any], str]
    media_of: Callable[[Any], list[dict[str, Any]] | None]
    null: Any
    if postgres:
        iso, media_of, null = _pg_iso, _pg_media, _PG_NULL
    else:
        iso, media_of, null = _aware_iso, _same, _NEVER
    s = encode_basestring
    encode_media = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    annotator_of = names.annotator
    author_of = names.author
    # Encoded fragments, once per distinct value: an annotation's start per (reviewer,
    # label, origin), its middle per kind, the record's policy/label/action and
    # guideline parts.
    heads: dict[tuple[str, str, str], str] = {}
    kinds: dict[str, str] = {}
    abouts: dict[tuple[str, str, str], str] = {}
    guidelines: dict[tuple[str, str], str] = {}
    secs: dict[Any, str] = {}
    automation: dict[str, str] = {}
    cluster_splits: dict[Any, str] = {}
    tally: Tally = Counter()
    first: Any = None
    last: Any = None
    for group in _groups(rows):
        row = group[0]
        source, external_id, raw_text, url = row[1], row[2], row[3], row[4]
        media = media_of(row[5])
        author_id, final_label, decided_at = row[6], row[8], row[9]
        parts = []
        labels: dict[str, str] = {}
        final = group[-1]
        for r in group:
            label, kind = r[11], r[15]
            key = (r[10], label, r[13])
            head = heads.get(key)
            if head is None:
                annotator = s(annotator_of(r[10]))
                head = heads[key] = (
                    f'{{"annotator":{annotator},"label":{s(label)},"source":{s(r[13])},"seconds":'
                )
            middle = kinds.get(kind)
            if middle is None:
                second = "true" if kind == _SECOND else "false"
                middle = kinds[kind] = f',"second_review":{second},"kind":{s(kind)},"decided_at":'
            seconds = secs.get(r[14])
            if seconds is None:
                if len(secs) >= _CACHE:
                    secs.clear()  # bounded: real seconds are mostly distinct
                seconds = secs[r[14]] = _float(float(r[14]))
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
            known = cluster_splits.get(cluster_id)
            if known is None:
                if len(cluster_splits) >= 16 * _CACHE:
                    cluster_splits.clear()  # bounded memory; recomputing is only slower
                known = split_for(**_clustered(int(cluster_id)))
                cluster_splits[cluster_id] = known
            split = known
        item_policy = row[7] or TRIAGE
        agreement = None
        if len(labels) > 1:
            values = list(labels.values())
            agreement = item_agreement(values)
            add_labels(item_policy, values)
        agreement_json = "null" if agreement is None else _float(agreement)
        media_out = (
            encode_media([{"kind": m.get("kind"), "url": m.get("url")} for m in media])
            if media
            else "[]"
        )
        appeal = row[20] or "none"
        decided_json = iso(decided_at)
        what = (item_policy, final_label, final[12])
        about = abouts.get(what)
        if about is None:
            about = abouts[what] = (
                f',"policy":{s(item_policy)},"label":{s(final_label)},"action":{s(final[12])}'
                ',"annotations":['
            )
        guideline = (final[17], final[18])
        under = guidelines.get(guideline)
        if under is None:
            under = guidelines[guideline] = (
                f',"guideline_id":{s(final[17])},"guideline_version":{s(final[18])},"decided_at":'
            )
        author = author_of(source, None if author_id == null else author_id) or ""
        automated = automation.get(final[13])
        if automated is None:
            automated = automation[final[13]] = "true" if is_automated(final[13]) else "false"
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
