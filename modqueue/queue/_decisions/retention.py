"""Retention and erasure of personal data, each purge audited.

`apply_retention` removes, one batch per kind per call, what `[retention]` no longer
allows to keep: the reporter's data and the item content of finally decided items, the
personal fields of their audit events, and the export's stored pseudonym key.
`erase_person` answers a data-subject request for one reporter or author. Item and
decision rows are written by the pipeline (`purge_item_fields`,
`redact_decision_notes`); the audit trail keeps every event (their personal fields live
apart, in `audit_personal`, see `modqueue.queue._audit.personal`), so `audit verify`
still passes afterwards. Neither the erased person's id nor any erased value is written
to the audit trail: only which items and how many fields.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, delete, func, or_, select, update
from sqlmodel import Session, col

from modqueue._exceptions import InvalidState
from modqueue.queue._audit.chain import AuditRecord, record_events
from modqueue.queue._audit.personal import CONTENT_KEYS, REDACTED, redacted_text
from modqueue.queue._core.models import Item
from modqueue.queue._core.privacy_models import AuditPersonal
from modqueue.queue._core.quality_models import Appeal, ExportSecret
from modqueue.queue._core.retention_config import RetentionConfig
from modqueue.queue._core.types import ItemStatus
from modqueue.queue._decisions.pipeline import (
    ERASED,
    ItemPurge,
    erase_reporter_keys,
    purge_item_fields,
    redact_decision_notes,
)

__all__ = ["ErasureReport", "RetentionReport", "apply_retention", "erase_person"]

PERSONAL: Table = AuditPersonal.metadata.tables["audit_personal"]
APPEAL: Table = Appeal.metadata.tables["appeal"]
SECRET: Table = ExportSecret.metadata.tables["export_secret"]


@dataclass(slots=True)
class RetentionReport:
    """What one `apply_retention` call purged; `more`: a batch was full, call again."""

    reporters: int = 0
    contents: int = 0
    audit_fields: int = 0
    export_keys: int = 0
    more: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)

    def add(self, other: RetentionReport) -> None:
        """Add the counts of `other` (a later batch) to these."""
        self.reporters += other.reporters
        self.contents += other.contents
        self.audit_fields += other.audit_fields
        self.export_keys += other.export_keys
        self.more = other.more


@dataclass(slots=True)
class ErasureReport:
    """What `erase_person` erased: the subject kind, its items, and how many audit
    fields and notes were touched."""

    subject: str
    items: list[int] = field(default_factory=list)
    audit_fields: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def _strip_audit_fields(
    session: Session,
    item_ids: list[int],
    *,
    keys: frozenset[str] | None,
    needles: Sequence[str] = (),
) -> int:
    """Remove from the audit side table the fields of items `item_ids` whose key is in
    `keys` (None: every field); in the notes left, `needles` become `[erased]`.
    Returns how many fields were removed or changed."""
    if not item_ids:
        return 0
    conn = session.connection()
    if keys is None:
        count = 0
        for (data,) in conn.execute(
            select(PERSONAL.c.data).where(PERSONAL.c.item_id.in_(item_ids))
        ):
            count += len(data or {})
        conn.execute(delete(PERSONAL).where(PERSONAL.c.item_id.in_(item_ids)))
        return count
    touched = 0
    rows = conn.execute(
        select(PERSONAL.c.event_id, PERSONAL.c.data).where(PERSONAL.c.item_id.in_(item_ids))
    ).all()
    for event_id, data in rows:
        kept: dict[str, Any] = {}
        for path, value in (data or {}).items():
            if path.rsplit(".", 1)[-1] in keys:
                touched += 1
                continue
            text = redacted_text(value)
            if text is not None and any(n in text for n in needles):
                for needle in needles:
                    text = text.replace(needle, ERASED)
                value = {REDACTED: text}
                touched += 1
            kept[path] = value
        if kept == data:
            continue
        if kept:
            conn.execute(update(PERSONAL).where(PERSONAL.c.event_id == event_id).values(data=kept))
        else:
            conn.execute(delete(PERSONAL).where(PERSONAL.c.event_id == event_id))
    return touched


def _due(
    session: Session, marker: Any, days: int, now: datetime, batch: int
) -> tuple[list[int], datetime]:
    cutoff = now - timedelta(days=days)
    ids = session.scalars(
        select(col(Item.id))
        .where(
            col(Item.status) == ItemStatus.DECIDED.value,
            col(Item.decided_at) < cutoff,
            marker.is_(None),
        )
        .order_by(col(Item.id))
        .limit(batch)
    ).all()
    return [int(i) for i in ids if i is not None], cutoff


def apply_retention(
    session: Session, *, config: RetentionConfig, now: datetime, actor: str = "retention"
) -> RetentionReport:
    """Apply `[retention]` to one batch of each kind, in the caller's transaction, with
    one `retention_purged` audit event per kind that purged something. Call again while
    the report says `more`."""
    report = RetentionReport()
    events: list[AuditRecord] = []
    kinds: list[tuple[ItemPurge, Any, int, frozenset[str]]] = [
        ("reporter", col(Item.reporter_purged_at), config.reporter_days, frozenset({"reporter"})),
        ("content", col(Item.content_purged_at), config.content_days, CONTENT_KEYS),
    ]
    for what, marker, days, keys in kinds:
        ids, cutoff = _due(session, marker, days, now, config.batch_size)
        if not ids:
            continue
        # The reporter's id and contact also leave the notes that quote them.
        needles = _reporter_needles(session, ids) if what == "reporter" else []
        purge_item_fields(session, item_ids=ids, what={what}, now=now)
        fields = _strip_audit_fields(session, ids, keys=keys, needles=needles)
        _redact_notes(session, ids, needles)
        report.audit_fields += fields
        report.more = report.more or len(ids) == config.batch_size
        if what == "reporter":
            report.reporters = len(ids)
        else:
            report.contents = len(ids)
        events.append(
            AuditRecord(
                actor,
                "retention_purged",
                now,
                detail={
                    "what": what,
                    "decided_before": cutoff.isoformat(),
                    "items": ids,
                    "audit_fields": fields,
                },
            )
        )
    conn = session.connection()
    key_cutoff = now - timedelta(days=config.export_key_days)
    names = list(
        conn.execute(select(SECRET.c.name).where(SECRET.c.created_at < key_cutoff)).scalars()
    )
    if names:
        conn.execute(delete(SECRET).where(SECRET.c.name.in_(names)))
        report.export_keys = len(names)
        events.append(
            AuditRecord(
                actor,
                "retention_purged",
                now,
                detail={
                    "what": "export_key",
                    "created_before": key_cutoff.isoformat(),
                    "names": names,
                },
            )
        )
    record_events(session, events)
    return report


def _redact_notes(session: Session, ids: list[int], needles: list[str]) -> None:
    """`needles` become `[erased]` in the decision and appeal notes of items `ids`."""
    if not ids or not needles:
        return
    redact_decision_notes(session, item_ids=ids, needles=needles)
    note: Any = APPEAL.c.note
    for needle in needles:
        note = func.replace(note, needle, ERASED)
    session.connection().execute(update(APPEAL).where(APPEAL.c.item_id.in_(ids)).values(note=note))


def _reporter_needles(session: Session, ids: list[int]) -> list[str]:
    """The reporter ids and contacts stored on items `ids`."""
    values: list[Any] = []
    for start in range(0, len(ids), 1000):
        for (reporter,) in session.execute(
            select(col(Item.reporter)).where(col(Item.id).in_(ids[start : start + 1000]))
        ):
            values += list((reporter or {}).values())
    return _needles(values)


def _needles(values: list[Any]) -> list[str]:
    # Longest first, so a handle containing an id is replaced whole.
    found = {str(v) for v in values if isinstance(v, str | int) and str(v).strip()}
    return sorted(found, key=lambda v: (-len(v), v))


def erase_person(
    session: Session,
    *,
    reporter: str | None = None,
    author: str | None = None,
    actor: str,
    now: datetime,
) -> ErasureReport:
    """Erase one person's data (a data-subject request), in the caller's transaction.

    `reporter`: matched against the reporter's `id` or `contact`; their reporter data is
    removed from every item they reported. `author`: matched against `author_id` or
    `author_handle`; the author id and handle and the content (text, URL, media URLs)
    of every item of theirs are removed, with every personal field of those items'
    audit events. Either way, the person's ids, handle and contact are replaced by
    `[erased]` wherever they appear in decision notes, appeal notes and audit notes of
    those items. Items, decisions, actions and audit events stay (without the person's
    data), so `audit verify` still passes. The erasure is audited as
    `personal_data_erased`, naming the items but not the person.
    """
    if (reporter is None) == (author is None):
        raise InvalidState("name exactly one person: a reporter or an author")
    wanted = (reporter if reporter is not None else author) or ""
    if not wanted.strip():
        raise InvalidState("the person's id is empty")
    if reporter is not None:
        subject = "reporter"
        rid = col(Item.reporter)["id"].as_string()
        contact = col(Item.reporter)["contact"].as_string()
        rows = session.execute(
            select(col(Item.id), col(Item.reporter)).where(or_(rid == wanted, contact == wanted))
        ).all()
        ids = sorted(int(i) for i, _ in rows)
        needles = _needles([wanted, *(v for _, r in rows for v in (r or {}).values())])
        purge_item_fields(session, item_ids=ids, what={"reporter"}, now=now)
        erase_reporter_keys(session, needles=needles)
        fields = _strip_audit_fields(session, ids, keys=frozenset({"reporter"}), needles=needles)
    else:
        subject = "author"
        rows = session.execute(
            select(col(Item.id), col(Item.author_id), col(Item.author_handle)).where(
                or_(col(Item.author_id) == wanted, col(Item.author_handle) == wanted)
            )
        ).all()
        ids = sorted(int(r[0]) for r in rows)
        needles = _needles([wanted, *(v for r in rows for v in r[1:])])
        purge_item_fields(session, item_ids=ids, what={"author", "content"}, now=now)
        fields = _strip_audit_fields(session, ids, keys=None)
    _redact_notes(session, ids, needles)
    report = ErasureReport(subject=subject, items=ids, audit_fields=fields)
    record_events(
        session,
        [
            AuditRecord(
                actor,
                "personal_data_erased",
                now,
                detail={"subject": subject, "items": ids, "audit_fields": fields},
            )
        ],
    )
    return report
