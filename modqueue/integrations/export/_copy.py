"""The JSON Lines fast path on PostgreSQL: rows as `COPY` text, records as strings.

`_SELECT` is `_records._query` (the same rows, joins, filters and order) written out.
Rows are read as the text of `COPY (query) TO STDOUT` (streamed, so the server produces
rows while this process writes them; no per-value conversion in the driver, no
SQLAlchemy result processing). The server does only what costs it next to nothing: a
null written as the empty value where that is what the record writes (text, URL, media,
policy, appeal, cluster, split), and timestamps as ISO text with a `T`
(`2026-11-24T09:00:00.5`: the aware UTC datetime's `isoformat()` is that with the
fraction padded to six digits and `+00:00`). Encoding on the server (`to_json` of every
field, record fragments, `to_char`, a `count(*) OVER` per item) was measured to cost it
two to four times the plain `COPY`, more than it saved here (bench/RESULTS_export.md).

A line without a backslash (nearly all: `COPY` escapes only backslashes and control
characters) is split on tabs as it is; any other is unescaped field by field. Rows are
grouped by item as they come (one row behind); an item with one decision (the common
case) skips the final-decision and agreement work. Each record is one f-string of
encoded fields in `FIELDS` order (`json.encoder`'s C string encoder, `json`'s float
spelling), fragments encoded once per distinct value (an annotation's start per
reviewer, label and origin; its middle per kind; the record's policy, label and action;
its guideline); pseudonyms once per distinct reviewer and author (the key never leaves
this process). Records go to the writer in batches per split once it holds nothing back
(`JsonlWriter.holding`).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from itertools import chain
from json.encoder import encode_basestring
from typing import Any, Protocol

from modqueue.guidelines import Action
from modqueue.integrations.export._card import CardStats
from modqueue.integrations.export._privacy import Pseudonymiser
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

__all__ = [
    "PG_SETTINGS",
    "Fragments",
    "Tally",
    "copy_rows",
    "encode_copy",
    "finish_copy_stats",
    "pg_sql",
]

PG_SETTINGS = ("SET LOCAL DateStyle = 'ISO, YMD'", "SET LOCAL extra_float_digits = 1")
"""What the export expects of the transaction: ISO dates (timestamps as text read
`YYYY-MM-DD HH:MM:SS[.ffffff]`) and floats in their shortest exact text."""

_CACHE = 4096
_BATCH = 1000
"""Records per split joined into one write once the writer holds nothing back."""


def _iso_text(column: str) -> str:
    """SQL: a `timestamp` column as ISO text with a `T` (null stays null)."""
    return f"replace({column}::text, ' ', 'T')"


_SELECT = f"""
SELECT i.id, i.source, i.external_id, coalesce(i.text, ''), coalesce(i.url, ''),
       coalesce(i.media::text, '[]'), i.author_id, coalesce(i.policy, ''),
       i.final_label, {_iso_text("i.decided_at")},
       d.reviewer, d.label, d.action, d.origin, d.seconds_spent, d.kind, d.status,
       d.guideline_id, d.guideline_version, {_iso_text("d.decided_at")},
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
# Only `author_id` and the item's `decided_at` can be null (`\\N`, or None once unescaped).
_ESCALATE = Action.ESCALATE.value
_SECOND = DecisionKind.SECOND_REVIEW
_ACTIVE = DecisionStatus.ACTIVE.value
_INF = float("inf")
_NULL = "\\N"
_END = [None]
"""Ends the rows: no item has this id."""


def pg_sql(
    policy: str | None, since: datetime | None, ids: tuple[int, int] | None = None
) -> tuple[str, dict[str, Any]]:
    """`_SELECT` with the export's filters; `ids`: only items `lo <= id < hi` (a chunk
    of the parallel export), appeals included."""
    sql, params = _SELECT, dict[str, Any]()
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
    if field == _NULL:
        return None
    return _COPY_ESCAPED.sub(_unescape, field) if "\\" in field else field


def copy_rows(raw: Any, sql: str, params: dict[str, Any]) -> Iterator[list[Any]]:
    """The rows of `sql` as `COPY (sql) TO STDOUT` text fields, on psycopg connection
    `raw` (in a transaction with `PG_SETTINGS`), streamed: a null is `\\N` in a row
    without other escapes, else None."""
    with raw.cursor() as cur, cur.copy(f"COPY ({sql}) TO STDOUT", params or None) as copy:
        for block in copy:
            line = str(block, "utf-8")[:-1]
            if "\\" in line and "\\" in line.replace("\t\\N", ""):
                yield [_copy_field(f) for f in line.split("\t")]  # escapes: rare
            else:
                yield line.split("\t")


class LineSink(Protocol):
    """Where encoded records go: `JsonlWriter`, or a worker's collector."""

    def write_line(self, split: str, line: str, *, media: bool, agreement: bool) -> None: ...

    def holding(self, split: str) -> bool: ...

    def write_text(self, split: str, lines: str) -> None: ...


Tally = Counter[tuple[str, str, str, str, str, str]]
"""Records per `(split, policy, label, guideline_id, guideline_version, appeal)`."""


def _float(value: float) -> str:
    """A float as `json` writes it (`NaN`, `Infinity` included)."""
    if value != value:
        return "NaN"
    if value == _INF:
        return "Infinity"
    if value == -_INF:
        return "-Infinity"
    return float.__repr__(value)


def _iso(at: str | None) -> str:
    """ISO text with a `T` (`2026-11-24T09:00:00.5`) as the aware UTC datetime's JSON
    (`"2026-11-24T09:00:00.500000+00:00"`); null as `null`."""
    if at is None or at == _NULL:
        return "null"
    if len(at) == 19:
        return '"' + at + '+00:00"'
    return '"' + at.ljust(26, "0") + '+00:00"'


def _clustered(cluster_id: int) -> ItemContent:
    # Only the cluster counts for an item in one (`content_key`).
    return ItemContent(
        text=None, url=None, media=None, source="", external_id="", cluster_id=cluster_id
    )


class Fragments:
    """What one export (or one worker's chunk) encodes once per distinct value; the
    SQLAlchemy path (`_lines.encode_records`) uses the same fragments."""

    def __init__(self, names: Pseudonymiser) -> None:
        self.names = names
        self.heads: dict[tuple[str, str, str], str] = {}
        self.kinds: dict[str, str] = {}
        self.abouts: dict[tuple[str, str, str], str] = {}
        self.guidelines: dict[tuple[str, str], str] = {}
        self.seconds: dict[str | float, str] = {}
        self.automated: dict[str, str] = {}
        self.cluster_splits: dict[str | int, str] = {}
        self.authors: dict[tuple[str, str | None], str] = {}
        self.sources: dict[str, str] = {}
        self.tallied: dict[tuple[str, str], tuple[str, str]] = {}
        """`about` and `guideline` fragment -> its policy and label, or id and version."""
        self.encode_media = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

    def head(self, reviewer: str, label: str, origin: str) -> str:
        """An annotation up to its seconds."""
        s = encode_basestring
        found = self.heads[(reviewer, label, origin)] = (
            f'{{"annotator":{s(self.names.annotator(reviewer))},"label":{s(label)}'
            f',"source":{s(origin)},"seconds":'
        )
        return found

    def kind(self, kind: str) -> str:
        """An annotation from after its seconds up to its time."""
        second = "true" if kind == _SECOND else "false"
        found = self.kinds[kind] = (
            f',"second_review":{second},"kind":{encode_basestring(kind)},"decided_at":'
        )
        return found

    def second(self, raw: str | float) -> str:
        if len(self.seconds) >= _CACHE:
            self.seconds.clear()  # bounded: real seconds are mostly distinct
        found = self.seconds[raw] = _float(float(raw))
        return found

    def about(self, policy: str, label: str, action: str) -> str:
        s = encode_basestring
        found = self.abouts[(policy, label, action)] = (
            f',"policy":{s(policy)},"label":{s(label)},"action":{s(action)},"annotations":['
        )
        self.tallied[("about", found)] = (policy, label)
        return found

    def guideline(self, guideline_id: str, version: str) -> str:
        s = encode_basestring
        found = self.guidelines[(guideline_id, version)] = (
            f',"guideline_id":{s(guideline_id)},"guideline_version":{s(version)},"decided_at":'
        )
        self.tallied[("guideline", found)] = (guideline_id, version)
        return found

    def author(self, source: str, author_id: str | None) -> str:
        """The author's encoded pseudonym (`""` for none)."""
        if len(self.authors) >= Pseudonymiser.AUTHOR_CACHE:
            self.authors.clear()  # bounded memory; recomputing is only slower
        pseudonym = self.names.author(source, None if author_id == _NULL else author_id)
        found = self.authors[(source, author_id)] = encode_basestring(pseudonym or "")
        return found

    def source(self, source: str) -> str:
        found = self.sources[source] = encode_basestring(source)
        return found

    def tally(self, counted: Counter[tuple[str, str, str, str]]) -> Tally:
        """`counted`, by `(split, about, guideline, appeal)` fragments, as `Tally`."""
        tally: Tally = Counter()
        for (split, about, guideline, appeal), n in counted.items():
            policy, label = self.tallied[("about", about)]
            guideline_id, version = self.tallied[("guideline", guideline)]
            tally[(split, policy, label, guideline_id, version, appeal)] += n
        return tally

    def automation(self, origin: str) -> str:
        found = self.automated[origin] = "true" if is_automated(origin) else "false"
        return found

    def cluster_split(self, cluster_id: str | int) -> str:
        found = self.cluster_splits.get(cluster_id)
        if found is None:
            if len(self.cluster_splits) >= 16 * _CACHE:
                self.cluster_splits.clear()  # bounded memory; recomputing is only slower
            found = self.cluster_splits[cluster_id] = split_for(**_clustered(int(cluster_id)))
        return found

    def annotation(self, r: list[Any]) -> str:
        head = self.heads.get((r[10], r[11], r[13])) or self.head(r[10], r[11], r[13])
        second = self.seconds.get(r[14]) or self.second(r[14])
        middle = self.kinds.get(r[15]) or self.kind(r[15])
        return f"{head}{second}{middle}{_iso(r[19])}}}"


def encode_copy(
    rows: Iterable[list[Any]],
    names: Pseudonymiser,
    sink: LineSink,
    add_labels: Callable[[str, list[str]], None],
) -> tuple[Tally, str | None, str | None]:
    """Encode the records of `rows` (`copy_rows` of `pg_sql`) into `sink`, calling
    `add_labels` for every item with two or more labels, in order: the records' tally
    and their first and last `decided_at` (ISO text; None when none)."""
    enc = Fragments(names)
    heads, kinds, seconds, abouts, guidelines, automated = (
        enc.heads,
        enc.kinds,
        enc.seconds,
        enc.abouts,
        enc.guidelines,
        enc.automated,
    )
    s = encode_basestring
    authors, sources = enc.authors, enc.sources
    free: dict[str, list[str]] = {}
    counted: Counter[tuple[str, str, str, str]] = Counter()
    tally: Tally = Counter()
    first: str | None = None
    last: str | None = None
    rest = iter(rows)
    row = next(rest, None)
    if row is None:
        return tally, first, last
    more: list[list[Any]] = []
    for following in chain(rest, (_END,)):
        if following[0] == row[0]:
            more.append(following)
            continue
        # `row` and `more`: the rows of one item; `following` starts the next.
        final_label = row[8]
        if more:
            group = [row, *more]
            final = group[-1]
            labels: dict[str, str] = {}
            for r in group:
                if r[12] != _ESCALATE:
                    labels[r[10]] = r[11]
                    if r[11] == final_label and r[16] == _ACTIVE:
                        final = r
            parts = ",".join([enc.annotation(r) for r in group])
            at = _iso(row[19])
            agreement = "null"
            item_policy = row[7] or TRIAGE
            if len(labels) > 1:
                values = list(labels.values())
                value = item_agreement(values)
                agreement = "null" if value is None else _float(value)
                add_labels(item_policy, values)
            more = []
        else:
            final = row
            head = heads.get((row[10], row[11], row[13])) or enc.head(row[10], row[11], row[13])
            second = seconds.get(row[14]) or enc.second(row[14])
            middle = kinds.get(row[15]) or enc.kind(row[15])
            at = row[19]
            at = '"' + at + '+00:00"' if len(at) == 19 else '"' + at.ljust(26, "0") + '+00:00"'
            parts = f"{head}{second}{middle}{at}}}"
            agreement = "null"
            item_policy = row[7] or TRIAGE
        source, raw_text, url, media_text = row[1], row[3], row[4], row[5]
        masked = mask_pii(raw_text) if raw_text else ""
        if media_text == "[]":
            media = None
            media_out = "[]"
        else:
            media = json.loads(media_text)
            media_out = (
                enc.encode_media([{"kind": m.get("kind"), "url": m.get("url")} for m in media])
                if media
                else "[]"
            )
        if row[21]:
            split = enc.cluster_split(row[21])
        else:
            split = row[22]
            if not split:  # not stored yet, or the content changed since
                split = split_for(
                    text=masked,
                    url=url,
                    media=media,
                    source=source,
                    external_id=row[2],
                    masked=True,
                )
        author = authors.get((source, row[6])) or enc.author(source, row[6])
        what = (item_policy, final_label, final[12])
        about = abouts.get(what) or enc.about(*what)
        guideline = guidelines.get((final[17], final[18])) or enc.guideline(final[17], final[18])
        auto = automated.get(final[13]) or enc.automation(final[13])
        appeal = row[20] or "none"
        decided = row[9]
        # An item's time is nearly always its (only) decision's: encoded once.
        decided_json = at if decided == row[19] else _iso(decided)
        source_json = sources.get(source) or enc.source(source)
        record = (
            f'{{"id":{s(f"{source}:{row[2]}")},"source":{source_json},"text":{s(masked)}'
            f',"url":{s(url)},"media":{media_out},"author":{author}{about}{parts}]'
            f',"agreement":{agreement}{guideline}{decided_json},"appeal":{s(appeal)}'
            f',"split":"{split}","automated":{auto}}}\n'
        )
        batch = free.get(split)
        if batch is None:
            sink.write_line(split, record, media=bool(media), agreement=agreement != "null")
            if not sink.holding(split):
                free[split] = []
        else:
            batch.append(record)
            if len(batch) >= _BATCH:
                sink.write_text(split, "".join(batch))
                batch.clear()
        counted[(split, about, guideline, appeal)] += 1
        if decided is not None and decided != _NULL:
            if first is None or decided < first:
                first = decided
            if last is None or decided > last:
                last = decided
        row = following
    for split, batch in free.items():
        sink.write_text(split, "".join(batch))
    return enc.tally(counted), first, last


def finish_copy_stats(stats: CardStats, tally: Tally, first: str | None, last: str | None) -> None:
    """Add `encode_copy`'s tally and time range to `stats`."""
    stats.add_tally(tally)
    # ISO text orders as the times do (a shorter fraction is a prefix).
    stats.first = None if first is None else datetime.fromisoformat(first).replace(tzinfo=UTC)
    stats.last = None if last is None else datetime.fromisoformat(last).replace(tzinfo=UTC)
