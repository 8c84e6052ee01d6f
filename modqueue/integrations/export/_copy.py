"""The JSON Lines fast path on PostgreSQL: the server writes most of each record.

`_SELECT` is `_records._query` (the same rows, joins, filters and order) with its columns
written as the record's JSON fragments where the server can write them exactly:
`to_json` of a text escapes as `json.encoder.encode_basestring` does with
`ensure_ascii=False` (`"`, `\\`, `\\b \\f \\n \\r \\t`, other controls as lowercase
`\\u00XX`, everything else as is), timestamps as the aware UTC datetime's `isoformat()`
(microseconds only when not zero, `+00:00`), booleans as `true`/`false`, constant keys
between them. `tests/integrations/export/test_export_fast.py` compares both paths byte
for byte, odd texts included. What needs this process stays here:

- pseudonyms (the key never leaves it), once per distinct reviewer and author;
- masking: a text's JSON is used as it came unless `may_hold_pii` says `mask_pii` could
  change it (an `@` or nine digits; escapes add no `@` and only more digits), then it is
  decoded, masked and encoded again;
- seconds, as `json` spells floats (`NaN`, `Infinity`, `1e-07`);
- media (rare), the split where none is stored, agreement and the final decision of an
  item with more decisions than one (the server counts them, `count(*) OVER`, so a
  single-decision item is written as soon as its row came).

Rows are read as the text of `COPY (query) TO STDOUT`, streamed. Every field is JSON or a
number, never null or with a control character, so the only escape `COPY` can write is
`\\\\` (a backslash) and a row is `line.replace("\\\\\\\\", "\\\\").split("\\t")`. Records go to the
writer in batches per split once it holds nothing back (`JsonlWriter.holding`).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
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
    may_hold_pii,
    split_for,
)

__all__ = ["PG_SETTINGS", "Tally", "copy_lines", "encode_copy", "finish_copy_stats", "pg_sql"]

PG_SETTINGS = ("SET LOCAL DateStyle = 'ISO, YMD'", "SET LOCAL extra_float_digits = 1")
"""What the export expects of the transaction: ISO dates (timestamps as text read
`YYYY-MM-DD HH:MM:SS[.ffffff]`) and floats in their shortest exact text."""

_CACHE = 4096
_BATCH = 1000
"""Records per split joined into one write once the writer holds nothing back."""


def _iso(column: str) -> str:
    """SQL: a UTC `timestamp` column as the JSON of the aware datetime (`null` if null).

    ISO text (`2026-11-24 09:00:00.5`, fractions without trailing zeros) padded with `#`
    to 26 characters: seven of them mean no fraction (dropped), fewer pad it with zeros.
    String functions only (`to_char` costs the server several times more)."""
    padded = f"rpad(replace({column}::text, ' ', 'T'), 26, '#')"
    return (
        f"""coalesce('"' || replace(replace({padded}, '#######', ''), '#', '0') """
        f"""|| '+00:00"', 'null')"""
    )


_SELECT = f"""
SELECT count(*) OVER (PARTITION BY i.id),
       to_json(i.source || ':' || i.external_id),
       to_json(i.source),
       to_json(coalesce(i.text, '')),
       coalesce(to_json(i.url)::text, '""'),
       to_json(i.media::text),
       coalesce(to_json(i.author_id)::text, 'null'),
       ',"policy":' || to_json(coalesce(nullif(i.policy, ''), '{TRIAGE}')) || ',"label":'
           || to_json(i.final_label) || ',"action":',
       {_iso("i.decided_at")},
       to_json(d.reviewer),
       ',"label":' || to_json(d.label) || ',"source":' || to_json(d.origin) || ',"seconds":',
       d.seconds_spent,
       ',"second_review":' || (d.kind = '{DecisionKind.SECOND_REVIEW}')::text
           || ',"kind":' || to_json(d.kind) || ',"decided_at":' || {_iso("d.decided_at")}
           || '}}',
       to_json(d.action),
       d.status,
       ',"guideline_id":' || to_json(d.guideline_id) || ',"guideline_version":'
           || to_json(d.guideline_version) || ',"decided_at":',
       coalesce(to_json(nullif(a.status, ''))::text, '"none"'),
       coalesce(i.cluster_id::text, ''),
       coalesce(i.content_split, '')
FROM item i
JOIN decision d ON d.item_id = i.id
LEFT OUTER JOIN (
    SELECT item_id, max(id) AS appeal_id FROM appeal
    WHERE status != '{AppealStatus.OPEN}' GROUP BY item_id
) latest ON latest.item_id = i.id
LEFT OUTER JOIN appeal a ON a.id = latest.appeal_id
WHERE i.final_label IS NOT NULL AND d.status != '{DecisionStatus.UNDONE.value}'
"""
# The fields of a row, by index: `_ABOUT` is the record's `,"policy":…,"label":…,"action":`
# (its action is the final decision's, `_ACTION`), `_ANNOTATION` an annotation's
# `,"label":…,"source":…,"seconds":`, `_ANNOTATION_END` the rest of it after the seconds,
# `_GUIDELINE` the record's `,"guideline_id":…,"guideline_version":…,"decided_at":`.
(
    _COUNT,
    _ID,
    _SOURCE,
    _TEXT,
    _URL,
    _MEDIA,
    _AUTHOR,
    _ABOUT,
    _DECIDED,
    _REVIEWER,
    _ANNOTATION,
    _SECONDS,
    _ANNOTATION_END,
    _ACTION,
    _STATUS,
    _GUIDELINE,
    _APPEAL,
    _CLUSTER,
    _SPLIT,
) = range(19)
_ESCALATE = encode_basestring(Action.ESCALATE.value)
_ACTIVE = DecisionStatus.ACTIVE.value
_INF = float("inf")
_DECODE = json.JSONDecoder().raw_decode
_ABOUT_END = ',"action":'
_ANNOTATION_TAIL = ',"seconds":'


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


def copy_lines(raw: Any, sql: str, params: dict[str, Any]) -> Iterator[str]:
    """The rows of `sql` as `COPY (sql) TO STDOUT` lines (newline cut, `\\\\` undone), on
    psycopg connection `raw` (in a transaction with `PG_SETTINGS`), streamed."""
    with raw.cursor() as cur, cur.copy(f"COPY ({sql}) TO STDOUT", params or None) as copy:
        for block in copy:
            line = str(block, "utf-8")[:-1]
            yield line.replace("\\\\", "\\") if "\\" in line else line


class LineSink(Protocol):
    """Where encoded records go: `JsonlWriter`, or a worker's collector."""

    def write_line(self, split: str, line: str, *, media: bool, agreement: bool) -> None: ...

    def holding(self, split: str) -> bool: ...

    def write_text(self, split: str, lines: str) -> None: ...


Tally = Counter[tuple[str, str, str, str]]
"""Records per `(split, about, guideline, appeal)` fragments (see `tally_of`)."""


def _float(value: float) -> str:
    """A float as `json` writes it (`NaN`, `Infinity` included)."""
    if value != value:
        return "NaN"
    if value == _INF:
        return "Infinity"
    if value == -_INF:
        return "-Infinity"
    return float.__repr__(value)


def _fields(fragment: str, tail: str) -> dict[str, Any]:
    """The fields of a fragment `,"key":value...` + `tail`, decoded."""
    return dict(json.loads("{" + fragment[1 : len(fragment) - len(tail)] + "}"))


def _tally_of(tally: Tally) -> Counter[tuple[str, str, str, str, str, str]]:
    """`tally` as `CardStats.add_tally` counts: by `(split, policy, label, guideline_id,
    guideline_version, appeal)`."""
    out: Counter[tuple[str, str, str, str, str, str]] = Counter()
    for (split, about, guideline, appeal), n in tally.items():
        what = _fields(about, _ABOUT_END)
        under = _fields(guideline, ',"decided_at":')
        key = (
            split,
            what["policy"],
            what["label"],
            under["guideline_id"],
            under["guideline_version"],
            json.loads(appeal),
        )
        out[key] += n
    return out


def _clustered(cluster_id: int) -> ItemContent:
    # Only the cluster counts for an item in one (`content_key`).
    return ItemContent(
        text=None, url=None, media=None, source="", external_id="", cluster_id=cluster_id
    )


def _own_split(row: list[str], text: str, media: list[dict[str, Any]] | None) -> str:
    """The split of an item out of any cluster whose split was not stored."""
    source: str = json.loads(row[_SOURCE])
    return split_for(
        text=text,
        url=json.loads(row[_URL]),
        media=media,
        source=source,
        external_id=json.loads(row[_ID])[len(source) + 1 :],
        masked=True,
    )


class _Encoder:
    """The per-distinct-value caches of one export (or one worker's chunks): encoded
    pseudonyms, seconds and `automated` by the server's text, decoded fragments."""

    def __init__(self, names: Pseudonymiser) -> None:
        self.names = names
        self.annotators: dict[str, str] = {}
        self.authors: dict[tuple[str, str], str] = {}
        self.seconds: dict[str, str] = {}
        self.automated: dict[str, str] = {}
        self.fragments: dict[str, dict[str, Any]] = {}
        self.cluster_splits: dict[str, str] = {}
        self.encode_media = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

    def annotator(self, reviewer: str) -> str:
        found = self.annotators[reviewer] = '{"annotator":' + encode_basestring(
            self.names.annotator(json.loads(reviewer))
        )
        return found

    def author(self, source: str, author_id: str) -> str:
        if len(self.authors) >= 16 * _CACHE:
            self.authors.clear()  # bounded memory; recomputing is only slower
        author = self.names.author(json.loads(source), json.loads(author_id)) or ""
        found = self.authors[(source, author_id)] = ',"author":' + encode_basestring(author)
        return found

    def second(self, raw: str) -> str:
        if len(self.seconds) >= _CACHE:
            self.seconds.clear()  # bounded: real seconds are mostly distinct
        found = self.seconds[raw] = _float(float(raw))
        return found

    def fields(self, fragment: str, tail: str) -> dict[str, Any]:
        """`_fields` of a fragment from a small set (labels, origins, policies)."""
        found = self.fragments.get(fragment)
        if found is None:
            if len(self.fragments) >= _CACHE:
                self.fragments.clear()
            found = self.fragments[fragment] = _fields(fragment, tail)
        return found

    def automation(self, annotation: str) -> str:
        origin = self.fields(annotation, _ANNOTATION_TAIL)["source"]
        found = self.automated[annotation] = "true" if is_automated(origin) else "false"
        return found

    def cluster_split(self, cluster_id: str) -> str:
        found = self.cluster_splits.get(cluster_id)
        if found is None:
            if len(self.cluster_splits) >= 16 * _CACHE:
                self.cluster_splits.clear()
            found = self.cluster_splits[cluster_id] = split_for(**_clustered(int(cluster_id)))
        return found


def encode_copy(
    lines: Iterable[str],
    names: Pseudonymiser,
    sink: LineSink,
    add_labels: Callable[[str, list[str]], None],
) -> tuple[Tally, str | None, str | None]:
    """Encode the records of `lines` (`copy_lines` of `pg_sql`) into `sink`, calling
    `add_labels` for every item with two or more labels, in order: the records' tally
    and their first and last `decided_at` (JSON text; None when none)."""
    enc = _Encoder(names)
    annotators, authors, seconds, automated = (
        enc.annotators,
        enc.authors,
        enc.seconds,
        enc.automated,
    )
    s = encode_basestring
    free: dict[str, list[str]] = {}
    tally: Tally = Counter()
    first: str | None = None
    last: str | None = None
    rows = iter(lines)
    for line in rows:
        row = line.split("\t")
        if row[_COUNT] == "1":
            annotation = annotators.get(row[_REVIEWER]) or enc.annotator(row[_REVIEWER])
            second = seconds.get(row[_SECONDS]) or enc.second(row[_SECONDS])
            parts = f"{annotation}{row[_ANNOTATION]}{second}{row[_ANNOTATION_END]}"
            final = row
            agreement = "null"
        else:
            group = [row]
            group.extend(next(rows).split("\t") for _ in range(int(row[_COUNT]) - 1))
            annotations = []
            labels: dict[str, str] = {}
            final = group[-1]
            final_label = enc.fields(row[_ABOUT], _ABOUT_END)["label"]
            for r in group:
                annotation = annotators.get(r[_REVIEWER]) or enc.annotator(r[_REVIEWER])
                second = seconds.get(r[_SECONDS]) or enc.second(r[_SECONDS])
                annotations.append(f"{annotation}{r[_ANNOTATION]}{second}{r[_ANNOTATION_END]}")
                if r[_ACTION] != _ESCALATE:
                    label = enc.fields(r[_ANNOTATION], _ANNOTATION_TAIL)["label"]
                    labels[r[_REVIEWER]] = label
                    if label == final_label and r[_STATUS] == _ACTIVE:
                        final = r
            parts = ",".join(annotations)
            agreement = "null"
            if len(labels) > 1:
                values = list(labels.values())
                value = item_agreement(values)
                agreement = "null" if value is None else _float(value)
                add_labels(enc.fields(row[_ABOUT], _ABOUT_END)["policy"], values)
        text = row[_TEXT]
        media: list[dict[str, Any]] | None = None
        if may_hold_pii(text):
            text = s(mask_pii(json.loads(text)))
        if row[_MEDIA] == '"[]"':
            media_out = "[]"
        else:
            media = json.loads(json.loads(row[_MEDIA]))
            media_out = (
                enc.encode_media([{"kind": m.get("kind"), "url": m.get("url")} for m in media])
                if media
                else "[]"
            )
        if row[_CLUSTER]:
            split = enc.cluster_split(row[_CLUSTER])
        else:
            split = row[_SPLIT]
            if not split:  # not stored yet, or the content changed since
                split = _own_split(row, json.loads(text), media)
        author = authors.get((row[_SOURCE], row[_AUTHOR])) or enc.author(row[_SOURCE], row[_AUTHOR])
        auto = automated.get(final[_ANNOTATION]) or enc.automation(final[_ANNOTATION])
        record = (
            f'{{"id":{row[_ID]},"source":{row[_SOURCE]},"text":{text},"url":{row[_URL]}'
            f',"media":{media_out}{author}{row[_ABOUT]}{final[_ACTION]},"annotations":[{parts}]'
            f',"agreement":{agreement}{final[_GUIDELINE]}{row[_DECIDED]},"appeal":{row[_APPEAL]}'
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
        tally[(split, row[_ABOUT], final[_GUIDELINE], row[_APPEAL])] += 1
        decided = row[_DECIDED]
        if decided != "null":
            if first is None or decided < first:
                first = decided
            if last is None or decided > last:
                last = decided
    for split, batch in free.items():
        sink.write_text(split, "".join(batch))
    return tally, first, last


def finish_copy_stats(stats: CardStats, tally: Tally, first: str | None, last: str | None) -> None:
    """Add `encode_copy`'s tally and time range to `stats`."""
    stats.add_tally(_tally_of(tally))
    # JSON text of one format orders as the times do.
    stats.first = None if first is None else datetime.fromisoformat(first[1:-1])
    stats.last = None if last is None else datetime.fromisoformat(last[1:-1])
