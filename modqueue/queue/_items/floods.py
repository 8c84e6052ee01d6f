"""Flood folding: many items from one origin become one incident for the lead.

An **origin** is one fingerprint (a content cluster: `item.cluster_id`), one reporter
(`item.reporter.id`) or one signal source (a signal's `name`, e.g. a hash bank or a
classifier). After each ingest batch, `fold_floods` counts the batch's items per origin
(`flood_hit`, one row per item and origin, kept for one `[floods] window`). When an
origin has brought more than its threshold within the window, its pending items fold
into the origin's open incident (created on the spot): their status becomes `folded`,
so `claim_next` (which only hands out `pending` items) no longer serves them and the
reviewers are not swamped. Items already claimed or decided are left alone. A
fingerprint flood keeps its cluster's representative with the reviewers: its cluster
card decides every copy at once, folded ones included.

The lead then, through `ReviewQueue`:
- decides the incident: one label over all its folded items, set-based, through the
  decision pipeline (`modqueue.queue` `decide_incident`); items the set decision skips go
  back to the queue;
- dismisses it: the folded items go back to `pending`;
- mutes a reporter (`mute_reporter`): from then on every item that reporter reports folds
  into their incident at once, whatever the count (a muted reporter cannot raise anything
  in front of the reviewers; the lead still sees and decides it);
- marks a signal source unreliable (`mark_source_unreliable`): the signal's `weight` on
  every pending item carrying it, and on every later one, becomes `[floods]
  unreliable_weight`, so it counts for less in priority (`_core.priority`).

This module writes flood tables, the `status` of folded items (pending <-> folded) and
the signals/priority of items carrying an unreliable source; never decisions or actions.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, cast

from sqlalchemy import (
    BigInteger,
    Connection,
    Table,
    any_,
    bindparam,
    delete,
    func,
    insert,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col

from modqueue._exceptions import InvalidState, NotFound
from modqueue.guidelines import GuidelineSet
from modqueue.queue._audit.chain import AuditRecord, record_events
from modqueue.queue._core.cluster_models import ContentCluster
from modqueue.queue._core.flood_config import FloodKind, FloodsConfig
from modqueue.queue._core.flood_models import (
    FloodHit,
    FloodIncident,
    FloodMember,
    FloodRule,
    IncidentStatus,
)
from modqueue.queue._core.models import Item
from modqueue.queue._core.prepared import Prepared
from modqueue.queue._core.routing import rescore
from modqueue.queue._core.types import ItemStatus, utcnow

__all__ = [
    "FOLDER",
    "FoldOutcome",
    "close_incident",
    "dismiss_incident",
    "fold_floods",
    "get_incident",
    "incident_items",
    "mark_source_unreliable",
    "mute_reporter",
    "origins_of",
    "unfold",
]

ITEM: Table = Item.metadata.tables["item"]
HIT: Table = FloodHit.metadata.tables["flood_hit"]
MEMBER: Table = FloodMember.metadata.tables["flood_member"]
CHUNK = 900
FOLDER = "floods"
"""The audit actor of automatic folding."""


@dataclass(frozen=True, slots=True)
class FoldOutcome:
    """An incident that grew: its id, origin and the items folded into it now."""

    incident_id: int
    kind: str
    key: str
    folded: list[int]


def _chunks(ids: Sequence[int]) -> Iterable[list[int]]:
    for start in range(0, len(ids), CHUNK):
        yield list(ids[start : start + CHUNK])


def origins_of(row: Any) -> list[tuple[str, str]]:
    """The `(kind, key)` origins of an item row (cluster, reporter id, signal names)."""
    found: list[tuple[str, str]] = []
    if row.cluster_id is not None:
        found.append((FloodKind.FINGERPRINT, str(row.cluster_id)))
    reporter = row.reporter
    if isinstance(reporter, dict) and reporter.get("id"):
        found.append((FloodKind.REPORTER, str(reporter["id"])[:500]))
    for signal in row.signals or []:
        if isinstance(signal, dict) and signal.get("name"):
            found.append((FloodKind.SOURCE, str(signal["name"])[:500]))
    return list(dict.fromkeys(found))


def _rules(session: Session) -> dict[tuple[str, str], FloodRule]:
    return {(r.kind, r.key): r for r in session.scalars(select(FloodRule))}


# PostgreSQL: a batch's hits in one `INSERT ... SELECT FROM unnest(<one array per
# column>)` and its origins counted in one join against unnest (a handful of parameters
# whatever the batch size); SQLite: one executemany and `(kind, key) IN` chunks.
_PG_INSERT_HITS = text(
    "INSERT INTO flood_hit (kind, key, item_id, at) "
    "SELECT h.kind, h.key, h.item_id, CAST(:at AS TIMESTAMP WITHOUT TIME ZONE) "
    "FROM unnest(CAST(:kinds AS text[]), CAST(:keys AS text[]), CAST(:item_ids AS bigint[])) "
    "AS h(kind, key, item_id) "
    "ON CONFLICT (kind, key, item_id) DO NOTHING"
).bindparams(bindparam("at", type_=HIT.c.at.type))
_PG_COUNT_HITS = text(
    "SELECT h.kind, h.key, count(*) FROM flood_hit h "
    "JOIN unnest(CAST(:kinds AS text[]), CAST(:keys AS text[])) AS t(kind, key) "
    "ON h.kind = t.kind AND h.key = t.key "
    "WHERE h.at >= CAST(:since AS TIMESTAMP WITHOUT TIME ZONE) GROUP BY h.kind, h.key"
).bindparams(bindparam("since", type_=HIT.c.at.type))


# SQLite: compiled once, run on the driver's `executemany` (`Prepared`).
_SQLITE_INSERT_HITS = Prepared(
    sqlite_insert(HIT)
    .values({c: bindparam(c, type_=HIT.c[c].type) for c in ("kind", "key", "item_id", "at")})
    .on_conflict_do_nothing(index_elements=["kind", "key", "item_id"])
)


def _insert_hits(conn: Connection, hits: list[tuple[str, str, int]], now: datetime) -> None:
    """Insert `(kind, key, item_id)` hits at `now`; one already counted is left alone."""
    if not hits:
        return
    if conn.dialect.name == "postgresql":
        kinds, keys, item_ids = (list(column) for column in zip(*hits, strict=True))
        conn.execute(
            _PG_INSERT_HITS, {"kinds": kinds, "keys": keys, "item_ids": item_ids, "at": now}
        )
        return
    _SQLITE_INSERT_HITS.executemany(
        conn, [{"kind": k, "key": y, "item_id": i, "at": now} for k, y, i in hits]
    )


def _count_hits(
    conn: Connection, touched: list[tuple[str, str]], since: datetime
) -> Iterable[tuple[str, str, int]]:
    """`(kind, key, hits within the window)` of the origins `touched`."""
    if not touched:
        return
    if conn.dialect.name == "postgresql":
        kinds, keys = [k for k, _ in touched], [y for _, y in touched]
        for kind, key, count in conn.execute(
            _PG_COUNT_HITS, {"kinds": kinds, "keys": keys, "since": since}
        ):
            yield str(kind), str(key), int(count)
        return
    for start in range(0, len(touched), CHUNK // 2):
        pairs = touched[start : start + CHUNK // 2]
        counted = conn.execute(
            select(HIT.c.kind, HIT.c.key, func.count())
            .where(tuple_(HIT.c.kind, HIT.c.key).in_(pairs), HIT.c.at >= since)
            .group_by(HIT.c.kind, HIT.c.key)
        )
        for kind, key, count in counted:
            yield str(kind), str(key), int(count)


def _batch_rows(conn: Connection, ids: list[int]) -> list[Any]:
    """The `_ROW_COLUMNS` of items `ids` (one statement on PostgreSQL)."""
    if conn.dialect.name == "postgresql":
        ids_array = bindparam("ids", ids, type_=ARRAY(BigInteger))
        return list(conn.execute(select(*_ROW_COLUMNS).where(ITEM.c.id == any_(ids_array))))
    # SQLite: the same statements on the driver's cursor, values decoded as the columns'
    # types decode them (JSON text, naive UTC datetime text), without SQLAlchemy's
    # per-row result work.
    # A batch's items mostly repeat their signals: each distinct JSON text is decoded
    # once, its value shared by the rows that hold it (they are only read here).
    driver: Any = conn.connection.driver_connection
    rows: list[Any] = []
    decoded: dict[str, Any] = {}
    cursor = driver.cursor()
    try:
        for part in _chunks(ids):
            marks = ", ".join("?" for _ in part)
            cursor.execute(f"SELECT {_ROW_SQL} FROM item WHERE item.id IN ({marks})", part)
            rows += [_BatchRow.decode(r, decoded) for r in cursor.fetchall()]
    finally:
        cursor.close()
    return rows


def _json_column(value: Any, decoded: dict[str, Any]) -> Any:
    # SQLAlchemy's JSON result processor: `json.loads` of the stored text (remembered in
    # `decoded`).
    if value is None or value == "null":
        return None
    found = decoded.get(value, _MISSING)
    if found is _MISSING:
        found = decoded[value] = json.loads(value)
    return found


_MISSING = object()


class _BatchRow(NamedTuple):
    """One item's `_ROW_COLUMNS`, as `Connection.execute` would give them."""

    id: int
    status: str
    cluster_id: int | None
    reporter: Any
    signals: Any
    policy: str | None
    report_count: int
    views: int
    deadline_at: datetime

    @classmethod
    def decode(cls, raw: Sequence[Any], decoded: dict[str, Any]) -> _BatchRow:
        """A row of `_ROW_SQL` from the SQLite driver (JSON texts already decoded for an
        earlier row of the batch in `decoded`)."""
        item_id, status, cluster_id, reporter, signals, policy, reports, views, deadline = raw
        return cls(
            item_id,
            status,
            cluster_id,
            _json_column(reporter, decoded),
            _json_column(signals, decoded),
            policy,
            reports,
            views,
            _sqlite_utc(deadline, decoded),
        )


def _sqlite_utc(value: str, decoded: dict[str, Any]) -> datetime:
    # `UTCDateTime` on SQLite: naive UTC text, returned aware (remembered in `decoded`,
    # keyed apart from the JSON texts).
    key = f"t:{value}"
    found = decoded.get(key)
    if found is None:
        found = decoded[key] = datetime.fromisoformat(value).replace(tzinfo=UTC)
    return cast(datetime, found)


def _open_incident(session: Session, kind: str, key: str, now: datetime) -> FloodIncident:
    found = session.scalars(
        select(FloodIncident)
        .where(
            col(FloodIncident.kind) == kind,
            col(FloodIncident.key) == key,
            col(FloodIncident.status) == IncidentStatus.OPEN,
        )
        .order_by(col(FloodIncident.id))
        .with_for_update()
    ).first()
    if found is None:
        found = FloodIncident(kind=kind, key=key, opened_at=now, updated_at=now)
        session.add(found)
        session.flush()
    return found


def _fold(
    session: Session,
    *,
    kind: str,
    key: str,
    candidates: Sequence[int],
    now: datetime,
    actor: str,
    why: str,
) -> FoldOutcome | None:
    """Fold the pending items among `candidates` into `(kind, key)`'s open incident."""
    conn = session.connection()
    pending: list[int] = []
    for part in _chunks(sorted(set(candidates))):
        pending += [
            int(v)
            for v in conn.execute(
                select(ITEM.c.id)
                .where(ITEM.c.id.in_(part), ITEM.c.status == ItemStatus.PENDING.value)
                .order_by(ITEM.c.id)
                .with_for_update()
            ).scalars()
        ]
    if not pending:
        return None
    incident = _open_incident(session, kind, key, now)
    assert incident.id is not None
    for part in _chunks(pending):
        conn.execute(
            update(ITEM)
            .where(ITEM.c.id.in_(part), ITEM.c.status == ItemStatus.PENDING.value)
            .values(status=ItemStatus.FOLDED.value, updated_at=now)
        )
    conn.execute(
        insert(MEMBER),
        [{"incident_id": incident.id, "item_id": i, "added_at": now} for i in pending],
    )
    incident.item_count += len(pending)
    incident.updated_at = now
    session.add(incident)
    detail = {"incident_id": incident.id, "kind": kind, "key": key, "why": why}
    record_events(
        session,
        [
            AuditRecord(
                actor,
                "incident_opened" if incident.item_count == len(pending) else "incident_grew",
                now,
                None,
                None,
                {"item_count": incident.item_count},
                {**detail, "folded": len(pending)},
            ),
            *(
                AuditRecord(
                    actor,
                    "folded",
                    now,
                    item_id,
                    {"status": ItemStatus.PENDING.value},
                    {"status": ItemStatus.FOLDED.value},
                    detail,
                )
                for item_id in pending
            ),
        ],
    )
    return FoldOutcome(incident.id, kind, key, pending)


def _reweigh(
    session: Session,
    *,
    rows: Sequence[Any],
    weights: dict[str, float],
    guidelines: GuidelineSet,
    now: datetime,
) -> list[int]:
    """Set the weight of unreliable signals on `rows` (pending or folded items) and
    rescore them; the ids changed."""
    changed: list[dict[str, Any]] = []
    for row in rows:
        signals = list(row.signals or [])
        fresh = [
            {**s, "weight": weights[s["name"]]}
            if isinstance(s, dict)
            and s.get("name") in weights
            and s.get("weight", 1.0) != weights[s["name"]]
            else s
            for s in signals
        ]
        if fresh == signals:
            continue
        priority, breakdown = rescore(
            guidelines,
            policy=row.policy,
            signals=fresh,
            report_count=row.report_count,
            views=row.views,
            deadline_at=row.deadline_at,
            now=now,
        )
        changed.append(
            {
                "b_id": row.id,
                "signals": fresh,
                "priority": priority,
                "priority_breakdown": breakdown,
            }
        )
    if changed:
        session.connection().execute(
            update(ITEM)
            .where(ITEM.c.id == bindparam("b_id"))
            .values(
                signals=bindparam("signals"),
                priority=bindparam("priority"),
                priority_breakdown=bindparam("priority_breakdown"),
            ),
            changed,
        )
    return [int(c["b_id"]) for c in changed]


_ROW_COLUMNS = (
    ITEM.c.id,
    ITEM.c.status,
    ITEM.c.cluster_id,
    ITEM.c.reporter,
    ITEM.c.signals,
    ITEM.c.policy,
    ITEM.c.report_count,
    ITEM.c.views,
    ITEM.c.deadline_at,
)


_ROW_SQL = ", ".join(f"item.{c.name}" for c in _ROW_COLUMNS)


def fold_floods(
    session: Session,
    *,
    item_ids: Sequence[int],
    config: FloodsConfig | None = None,
    guidelines: GuidelineSet | None = None,
    now: datetime | None = None,
) -> list[FoldOutcome]:
    """Count the items `item_ids` (one ingest batch) per origin and fold floods, in the
    caller's transaction; returns the incidents that grew.

    Set-based: a few statements per batch (read the batch, insert its hits, count the
    origins it touched over the window, fold), never one per item. Items of a muted
    reporter fold at once; with `guidelines`, items carrying an unreliable signal source
    get its lowered weight and are rescored.
    """
    config = config or FloodsConfig()
    now = now or utcnow()
    ids = sorted(set(item_ids))
    if not config.enabled or not ids:
        return []
    conn = session.connection()
    rows = _batch_rows(conn, ids)
    rules = _rules(session)
    weights = {k: r.weight for (kind, k), r in rules.items() if kind == FloodKind.SOURCE}
    if weights and guidelines is not None:
        _reweigh(
            session,
            rows=[r for r in rows if r.status == ItemStatus.PENDING.value],
            weights=weights,
            guidelines=guidelines,
            now=now,
        )
    hits: list[tuple[str, str, int]] = []
    muted: dict[str, list[int]] = defaultdict(list)
    for row in rows:
        item_id = int(row.id)
        for kind, key in origins_of(row):
            hits.append((kind, key, item_id))
            if kind == FloodKind.REPORTER and (kind, key) in rules:
                muted[key].append(item_id)
    since = now - timedelta(seconds=config.window_s)
    conn.execute(delete(HIT).where(HIT.c.at < since))
    _insert_hits(conn, hits, now)
    touched = sorted({(kind, key) for kind, key, _ in hits})
    over: list[tuple[str, str]] = []
    for kind, key, count in _count_hits(conn, touched, since):
        threshold = config.threshold(kind)
        if threshold and count > threshold:
            over.append((kind, key))
    outcomes: list[FoldOutcome] = []
    for key, members in sorted(muted.items()):
        done = _fold(
            session,
            kind=FloodKind.REPORTER,
            key=key,
            candidates=members,
            now=now,
            actor=FOLDER,
            why="reporter muted",
        )
        if done is not None:
            outcomes.append(done)
    for kind, key in sorted(over):
        candidates = [
            int(v)
            for v in conn.execute(
                select(HIT.c.item_id).where(HIT.c.kind == kind, HIT.c.key == key, HIT.c.at >= since)
            ).scalars()
        ]
        if kind == FloodKind.FINGERPRINT:
            # The cluster's representative stays with the reviewers: its card decides
            # every copy at once (folded ones included).
            representative = session.scalar(
                select(col(ContentCluster.representative_item_id)).where(
                    col(ContentCluster.id) == int(key)
                )
            )
            candidates = [i for i in candidates if i != representative]
        done = _fold(
            session,
            kind=kind,
            key=key,
            candidates=candidates,
            now=now,
            actor=FOLDER,
            why=f"more than {config.threshold(kind)} items within {config.window_s:g}s",
        )
        if done is not None:
            outcomes.append(done)
    return outcomes


def incident_items(session: Session, *, incident_id: int, status: str | None = None) -> list[int]:
    """The item ids folded into an incident (with `status`: only those in that state)."""
    query = select(MEMBER.c.item_id).where(MEMBER.c.incident_id == incident_id)
    if status is not None:
        query = query.join(ITEM, ITEM.c.id == MEMBER.c.item_id).where(ITEM.c.status == status)
    return sorted(int(v) for v in session.connection().execute(query).scalars())


def unfold(session: Session, *, item_ids: Sequence[int], now: datetime) -> list[int]:
    """Put folded items among `item_ids` back to `pending`; the ids that went back."""
    conn = session.connection()
    back: list[int] = []
    for part in _chunks(sorted(set(item_ids))):
        back += [
            int(v)
            for v in conn.execute(
                update(ITEM)
                .where(ITEM.c.id.in_(part), ITEM.c.status == ItemStatus.FOLDED.value)
                .values(status=ItemStatus.PENDING.value, updated_at=now)
                .returning(ITEM.c.id)
            ).scalars()
        ]
    return sorted(back)


def get_incident(session: Session, incident_id: int, *, lock: bool = False) -> FloodIncident:
    """Incident `incident_id` (`NotFound` otherwise)."""
    query = select(FloodIncident).where(col(FloodIncident.id) == incident_id)
    if lock:
        query = query.with_for_update()
    found = session.scalars(query).first()
    if found is None:
        raise NotFound(f"incident {incident_id} does not exist")
    return found


def close_incident(
    session: Session,
    *,
    incident: FloodIncident,
    status: str,
    actor: str,
    now: datetime,
    label: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Mark an open incident decided or dismissed, audited (`incident_<status>`)."""
    if incident.status != IncidentStatus.OPEN:
        raise InvalidState(f"incident {incident.id} is {incident.status}, not open")
    incident.status = status
    incident.closed_at = now
    incident.closed_by = actor
    incident.label = label
    incident.updated_at = now
    incident.detail = {**incident.detail, **(detail or {})}
    session.add(incident)
    record_events(
        session,
        [
            AuditRecord(
                actor,
                f"incident_{status}",
                now,
                None,
                {"status": IncidentStatus.OPEN},
                {"status": status, "label": label},
                {"incident_id": incident.id, "kind": incident.kind, "key": incident.key}
                | (detail or {}),
            )
        ],
    )


def dismiss_incident(
    session: Session, *, incident_id: int, actor: str, now: datetime, note: str = ""
) -> list[int]:
    """Dismiss an open incident: its folded items go back to the reviewers (`pending`);
    returns them."""
    incident = get_incident(session, incident_id, lock=True)
    folded = incident_items(session, incident_id=incident_id, status=ItemStatus.FOLDED.value)
    back = unfold(session, item_ids=folded, now=now)
    close_incident(
        session,
        incident=incident,
        status=IncidentStatus.DISMISSED,
        actor=actor,
        now=now,
        detail={"returned": len(back), "note": note},
    )
    return back


def _set_rule(
    session: Session, *, kind: str, key: str, weight: float, actor: str, now: datetime, reason: str
) -> FloodRule:
    if not key.strip():
        raise InvalidState(f"a {kind} needs a name")
    rule = session.scalars(
        select(FloodRule).where(col(FloodRule.kind) == kind, col(FloodRule.key) == key)
    ).first()
    before = None if rule is None else {"weight": rule.weight, "set_by": rule.set_by}
    if rule is None:
        rule = FloodRule(kind=kind, key=key, weight=weight, set_by=actor, set_at=now, reason=reason)
    else:
        rule.weight, rule.set_by, rule.set_at, rule.reason = weight, actor, now, reason
    session.add(rule)
    session.flush()
    event = "reporter_muted" if kind == FloodKind.REPORTER else "source_unreliable"
    record_events(
        session,
        [
            AuditRecord(
                actor, event, now, None, before, {"weight": weight}, {kind: key, "reason": reason}
            )
        ],
    )
    return rule


def mute_reporter(
    session: Session,
    *,
    reporter_id: str,
    actor: str,
    now: datetime,
    config: FloodsConfig | None = None,
    reason: str = "",
) -> list[FoldOutcome]:
    """Mute a reporter (audited `reporter_muted`): their pending items counted within
    the window fold into their incident now, and every later report folds on arrival."""
    config = config or FloodsConfig()
    _set_rule(
        session,
        kind=FloodKind.REPORTER,
        key=reporter_id,
        weight=0.0,
        actor=actor,
        now=now,
        reason=reason,
    )
    since = now - timedelta(seconds=config.window_s)
    candidates = [
        int(v)
        for v in session.connection()
        .execute(
            select(HIT.c.item_id).where(
                HIT.c.kind == FloodKind.REPORTER, HIT.c.key == reporter_id, HIT.c.at >= since
            )
        )
        .scalars()
    ]
    done = _fold(
        session,
        kind=FloodKind.REPORTER,
        key=reporter_id,
        candidates=candidates,
        now=now,
        actor=actor,
        why="reporter muted",
    )
    return [done] if done is not None else []


def mark_source_unreliable(
    session: Session,
    *,
    source: str,
    actor: str,
    guidelines: GuidelineSet,
    now: datetime,
    config: FloodsConfig | None = None,
    reason: str = "",
) -> list[int]:
    """Mark signal source `source` unreliable (audited `source_unreliable`): its weight
    becomes `[floods] unreliable_weight` on every pending or folded item carrying it (they
    are rescored, returned) and on every later one."""
    config = config or FloodsConfig()
    rule = _set_rule(
        session,
        kind=FloodKind.SOURCE,
        key=source,
        weight=config.unreliable_weight,
        actor=actor,
        now=now,
        reason=reason,
    )
    changed: list[int] = []
    conn = session.connection()
    waiting = (ItemStatus.PENDING.value, ItemStatus.FOLDED.value)
    last = 0
    while True:
        rows = list(
            conn.execute(
                select(*_ROW_COLUMNS)
                .where(ITEM.c.status.in_(waiting), ITEM.c.id > last)
                .order_by(ITEM.c.id)
                .limit(2000)
            )
        )
        if not rows:
            break
        last = int(rows[-1].id)
        carrying = [
            r
            for r in rows
            if any(isinstance(s, dict) and s.get("name") == source for s in r.signals or [])
        ]
        changed += _reweigh(
            session, rows=carrying, weights={source: rule.weight}, guidelines=guidelines, now=now
        )
    return changed
