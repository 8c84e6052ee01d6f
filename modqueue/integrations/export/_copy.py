"""The JSON Lines fast path on PostgreSQL: rows as `COPY` text, records as strings.

`_SELECT` is `_records._query` (the same rows, joins, filters and order) written out,
its columns in the order this module reads them. Rows are read as the text of
`COPY (query) TO STDOUT` (streamed, so the server produces rows while this process
writes them; no per-value conversion in the driver, no SQLAlchemy result processing).
The server does only what costs it next to nothing: a null written as the empty value
where that is what the record writes (text, URL, media, policy, appeal, cluster, split),
and timestamps as ISO text with a `T` (`2026-11-24T09:00:00.5`: the aware UTC
datetime's `isoformat()` is that with the fraction padded to six digits and `+00:00`).
Encoding on the server (`to_json` of every field, record fragments, `to_char`, a
`count(*) OVER` per item) was measured to cost it two to four times the plain `COPY`,
more than it saved here (bench/RESULTS_export.md).

Reading (`copy_rows`, `_copy_text`): the rows straight from libpq, a block at a time,
each line cut into its first ten fields and the rest: the thirteen columns that take
few distinct values (source, policy, labels, reviewer, action, origin, kind, status,
guideline, appeal, stored split) stay one string, the row's *shape*. A line with a
backslash other than a null's `\\N` (`COPY` escapes only backslashes and control
characters) has its ten fields unescaped; a shape is unescaped when it is first seen.

Encoding (`encode_copy`): each distinct shape is parsed and encoded once (`Shape`:
the record's fragments for it, the author pseudonyms of its source, the count of
records it tallies), so a record with one decision (nearly all) is one dictionary
look-up, the per-item fields (id, text masked, URL, media, author, seconds, times) and
one f-string in `FIELDS` order. Rows are grouped by item as they come (one row behind);
an item with several decisions picks its final one and its agreement as the general
path does. Pseudonyms are computed once per distinct reviewer and author (the key never
leaves this process). Records go to the writer in batches per split once it holds
nothing back (`JsonlWriter.holding`).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from itertools import chain
from json.encoder import encode_basestring
from typing import Any, NamedTuple, Protocol

from modqueue.guidelines import Action
from modqueue.integrations.export._card import CardStats
from modqueue.integrations.export._copy_text import copy_field
from modqueue.integrations.export._copy_text import copy_rows as copy_text_rows
from modqueue.integrations.export._fragments import (
    CACHE,
    NULL,
    Fragments,
    Tally,
    float_json,
    iso_json,
)
from modqueue.integrations.export._privacy import Pseudonymiser
from modqueue.quality import item_agreement
from modqueue.queue import (
    TRIAGE,
    AppealStatus,
    DecisionStatus,
    mask_pii,
    split_for,
)

__all__ = [
    "PG_SETTINGS",
    "Tally",
    "copy_rows",
    "encode_copy",
    "finish_copy_stats",
    "pg_sql",
]

PG_SETTINGS = ("SET LOCAL DateStyle = 'ISO, YMD'", "SET LOCAL extra_float_digits = 1")
"""What the export expects of the transaction: ISO dates (timestamps as text read
`YYYY-MM-DD HH:MM:SS[.ffffff]`) and floats in their shortest exact text."""

_BATCH = 1000
"""Records per split joined into one write once the writer holds nothing back."""


def _iso_text(column: str) -> str:
    """SQL: a `timestamp` column as ISO text with a `T` (null stays null)."""
    return f"replace({column}::text, ' ', 'T')"


_AUTHOR = "CASE WHEN i.author_id IS NULL THEN '' ELSE 'a' || i.author_id END"
"""SQL: the author column, never null: `''` for none, else the id behind an `a`. A null
field is `\\N` in a row without escapes but None in one with them, where a real id
spelled `\\N` is `\\N` too: this keeps the two apart."""

_SELECT = f"""
SELECT i.id, i.external_id, coalesce(i.text, ''), coalesce(i.url, ''),
       coalesce(i.media::text, '[]'), {_AUTHOR}, {_iso_text("i.decided_at")},
       {_iso_text("d.decided_at")}, d.seconds_spent, coalesce(i.cluster_id::text, ''),
       i.source, coalesce(i.policy, ''), i.final_label, d.reviewer, d.label, d.action,
       d.origin, d.kind, d.status, d.guideline_id, d.guideline_version,
       coalesce(a.status, ''), coalesce(i.content_split, '')
FROM item i
JOIN decision d ON d.item_id = i.id
LEFT OUTER JOIN (
    SELECT item_id, max(id) AS appeal_id FROM appeal
    WHERE status != '{AppealStatus.OPEN}' GROUP BY item_id
) latest ON latest.item_id = i.id
LEFT OUTER JOIN appeal a ON a.id = latest.appeal_id
WHERE i.final_label IS NOT NULL AND d.status != '{DecisionStatus.UNDONE.value}'
"""
_FIELDS = 10
"""Columns read one by one (`_SELECT`'s first ten); the other 13 are the row's shape.
Only the item's `decided_at` can be null (`\\N`, or None once unescaped); the author
is `_AUTHOR`."""
_SHAPE_COLUMNS = 13
_SHAPES = 16 * CACHE
"""Shapes kept at most (then forgotten: making them again is only slower)."""
_ESCALATE = Action.ESCALATE.value
_ACTIVE = DecisionStatus.ACTIVE.value
_END = [None]
"""Ends the rows: no item has this id."""
_FIRST = "\U0010ffff"
"""Sorts after any ISO time (so the first one seen is below it)."""


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


def copy_rows(raw: Any, sql: str, params: dict[str, Any]) -> Iterator[list[Any]]:
    """The rows of `sql` (`pg_sql`) on psycopg connection `raw` (in a transaction with
    `PG_SETTINGS`), streamed: per row its first `_FIELDS` fields (a null is `\\N` in a
    row without other escapes, else None) and its shape, the text of the other columns."""
    return copy_text_rows(raw, sql, params, leading=_FIELDS)


class LineSink(Protocol):
    """Where encoded records go: `JsonlWriter`, or a worker's collector."""

    def write_line(self, split: str, line: str, *, media: bool, agreement: bool) -> None: ...

    def holding(self, split: str) -> bool: ...

    def write_text(self, split: str, lines: str) -> None: ...


class Shape(NamedTuple):
    """One distinct shape of row (`_SELECT`'s last 13 columns) and its fragments."""

    id_prefix: str
    """`source:`, the start of the record's id."""
    source_json: str
    """`,"source":...,"text":`."""
    single: str
    """The record of an item decided once, from its action to its annotation's seconds."""
    about: str
    head: str
    middle: str
    closing: str
    """The item decided once: its annotation's end, no agreement, the guideline."""
    guideline: str
    appeal_split: str
    """`,"appeal":...,"split":"`: the split follows."""
    automated: str
    """After the split: `","automated":...}` and the newline."""
    ending: str
    """`appeal_split`, the stored split, `automated` (empty when no split is stored)."""
    stored: str
    authors: dict[str | None, str]
    """The encoded author pseudonyms of this source."""
    counted: list[int]
    """Records counted for this shape's tally key with its stored split."""
    policy: str
    final_label: str
    reviewer: str
    label: str
    action: str
    status: str
    guideline_id: str
    guideline_version: str
    appeal: str


class Shapes(Fragments):
    """`Fragments` and the shapes of one export (or one worker's chunk)."""

    def __init__(self, names: Pseudonymiser) -> None:
        super().__init__(names)
        self.shapes: dict[str, Shape] = {}
        self.by_source: dict[str, dict[str | None, str]] = {}
        self.tally: Tally = Counter()

    def shape(self, text: str) -> Shape:
        """The shape of `text` (the row's last columns as `COPY` text), made and kept."""
        if len(self.shapes) >= _SHAPES:
            self.fold()
        fields = [copy_field(f) or "" for f in text.split("\t")]
        if len(fields) != _SHAPE_COLUMNS:
            raise ValueError(f"COPY text: {len(fields)} columns, not {_SHAPE_COLUMNS}")
        source, policy, final_label, reviewer, label, action, origin, kind = fields[:8]
        status, guideline_id, version, appeal, stored = fields[8:]
        policy, appeal = policy or TRIAGE, appeal or "none"
        s = encode_basestring
        about = self.abouts.get((policy, final_label, action)) or self.about(
            policy, final_label, action
        )
        head = self.heads.get((reviewer, label, origin)) or self.head(reviewer, label, origin)
        guideline = self.guidelines.get((guideline_id, version)) or self.guideline(
            guideline_id, version
        )
        appeal_split = f',"appeal":{s(appeal)},"split":"'
        automated = f'","automated":{self.automation(origin)}}}\n'
        authors = self.by_source.get(source)
        if authors is None:
            authors = self.by_source[source] = {}
        found = self.shapes[text] = Shape(
            id_prefix=source + ":",
            source_json=f',"source":{s(source)},"text":',
            single=about + head,
            about=about,
            head=head,
            middle=self.kinds.get(kind) or self.kind(kind),
            closing='}],"agreement":null' + guideline,
            guideline=guideline,
            appeal_split=appeal_split,
            automated=automated,
            ending=appeal_split + stored + automated if stored else "",
            stored=stored,
            authors=authors,
            counted=[0],
            policy=policy,
            final_label=final_label,
            reviewer=reviewer,
            label=label,
            action=action,
            status=status,
            guideline_id=guideline_id,
            guideline_version=version,
            appeal=appeal,
        )
        return found

    def fold(self) -> None:
        """Add the shapes' counts to `tally` and forget the shapes."""
        for k in self.shapes.values():
            if k.counted[0]:
                self.tally[self.key(k, k.stored)] += k.counted[0]
        self.shapes.clear()

    @staticmethod
    def key(k: Shape, split: str) -> tuple[str, str, str, str, str, str]:
        """The tally key of a record of shape `k` (its final decision's) in `split`."""
        return (split, k.policy, k.final_label, k.guideline_id, k.guideline_version, k.appeal)

    def author(self, source: str, field: str, into: dict[str | None, str]) -> str:
        """The encoded pseudonym of the author in `field` (`_AUTHOR`; `""` for none),
        kept in `into`."""
        if len(into) >= Pseudonymiser.AUTHOR_CACHE:
            into.clear()  # bounded memory; recomputing is only slower
        pseudonym = self.names.author(source, field[1:] if field else None)
        found = into[field] = encode_basestring(pseudonym or "")
        return found

    def seconds_json(self, raw: str) -> str:
        """`seconds_spent` as `COPY` wrote it, as JSON: the server's shortest exact
        digits are `repr`'s when written with a point and no exponent (the server uses
        exponents from 1e15 on, Python from 1e16; both below 1e-4)."""
        if "." in raw and "e" not in raw:
            return raw
        return self.seconds.get(raw) or self.second(raw)


def encode_copy(
    rows: Iterable[list[Any]],
    names: Pseudonymiser,
    sink: LineSink,
    add_labels: Callable[[str, list[str]], None],
) -> tuple[Tally, str | None, str | None]:
    """Encode the records of `rows` (`copy_rows` of `pg_sql`) into `sink`, calling
    `add_labels` for every item with two or more labels, in order: the records' tally
    and their first and last `decided_at` (ISO text; None when none)."""
    enc = Shapes(names)
    shapes, seconds, seconds_of = enc.shapes, enc.seconds_json, enc.seconds
    s = encode_basestring
    free: dict[str, list[str]] = {}
    other = enc.tally
    first = _FIRST
    last = ""
    rest = iter(rows)
    row = next(rest, None)
    if row is None:
        return other, None, None
    more: list[list[Any]] = []
    for following in chain(rest, (_END,)):
        if following[0] == row[0]:
            more.append(following)
            continue
        # `row` and `more`: the rows of one item; `following` starts the next.
        k = shapes.get(row[10]) or enc.shape(row[10])
        raw_text, media_text, cluster = row[2], row[4], row[9]
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
        own = False
        if cluster:
            split = enc.cluster_split(cluster)
        elif k.stored:
            split = k.stored
            own = True
        else:  # not stored yet, or the content changed since
            split = split_for(
                text=masked,
                url=row[3],
                media=media,
                source=k.id_prefix[:-1],
                external_id=row[1],
                masked=True,
            )
        author = k.authors.get(row[5]) or enc.author(k.id_prefix[:-1], row[5], k.authors)
        at = row[7]
        if len(at) != 26 and len(at) != 19:
            at = at.ljust(26, "0")
        at = f'"{at}+00:00"'
        decided = row[6]
        decided_json = at if decided == row[7] else iso_json(decided)
        if more:
            group = [row, *more]
            ks = [k, *[shapes.get(r[10]) or enc.shape(r[10]) for r in more]]
            final = len(group) - 1
            labels: dict[str, str] = {}
            for n, g in enumerate(ks):
                if g.action != _ESCALATE:
                    labels[g.reviewer] = g.label
                    if g.label == k.final_label and g.status == _ACTIVE:
                        final = n
            parts = ",".join(
                [
                    f"{g.head}{seconds(r[8])}{g.middle}{iso_json(r[7])}}}"
                    for r, g in zip(group, ks, strict=True)
                ]
            )
            agreement = "null"
            if len(labels) > 1:
                values = list(labels.values())
                value = item_agreement(values)
                agreement = "null" if value is None else float_json(value)
                add_labels(k.policy, values)
            f = ks[final]
            ending = f.ending if own else f.appeal_split + split + f.automated
            record = (
                f'{{"id":{s(k.id_prefix + row[1])}{k.source_json}{s(masked)},"url":{s(row[3])}'
                f',"media":{media_out},"author":{author}{f.about}{parts}],"agreement":'
                f"{agreement}{f.guideline}{decided_json}{ending}"
            )
            other[enc.key(f, split)] += 1
            more = []
        else:
            agreement = "null"
            if own:
                ending = k.ending
                k.counted[0] += 1
            else:
                ending = k.appeal_split + split + k.automated
                other[enc.key(k, split)] += 1
            second = row[8]
            if "." not in second or "e" in second:  # as `Shapes.seconds_json`
                second = seconds_of.get(second) or enc.second(second)
            record = (
                f'{{"id":{s(k.id_prefix + row[1])}{k.source_json}{s(masked)},"url":{s(row[3])}'
                f',"media":{media_out},"author":{author}{k.single}{second}'
                f"{k.middle}{at}{k.closing}{decided_json}{ending}"
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
        if decided_json is at:
            if decided < first:
                first = decided
            if decided > last:
                last = decided
        elif decided is not None and decided != NULL:
            first = min(first, decided)
            last = max(last, decided)
        row = following
    for split, batch in free.items():
        sink.write_text(split, "".join(batch))
    enc.fold()
    return enc.tally, None if first == _FIRST else first, last or None


def finish_copy_stats(stats: CardStats, tally: Tally, first: str | None, last: str | None) -> None:
    """Add `encode_copy`'s tally and time range to `stats`."""
    stats.add_tally(tally)
    # ISO text orders as the times do (a shorter fraction is a prefix).
    stats.first = None if first is None else datetime.fromisoformat(first).replace(tzinfo=UTC)
    stats.last = None if last is None else datetime.fromisoformat(last).replace(tzinfo=UTC)
