"""Claiming: one item to one reviewer at a time, under a lease."""

from __future__ import annotations

import functools
import re
import secrets
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Unpack

from sqlalchemy import (
    Connection,
    Engine,
    Table,
    bindparam,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.orm.util import identity_key
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col

from modqueue._exceptions import (
    ClaimLost,
    InvalidState,
    LeaseExpired,
    NotFound,
    PermissionDenied,
)
from modqueue._fields import fields_dict
from modqueue.queue._audit.chain import AuditRecord, EventChanges, record_events
from modqueue.queue._audit.inline import inline_append, inline_append_cte
from modqueue.queue._claims.candidates import ONE, claimable, decided_by, held_claim_candidate
from modqueue.queue._claims.exposure import ClaimHold, ClaimSeen
from modqueue.queue._core.models import Item, ItemPublic
from modqueue.queue._core.prepared import Prepared
from modqueue.queue._core.routing import (
    is_second_review_queue,
    is_senior_queue,
    second_review_queue,
)
from modqueue.queue._core.types import ItemStatus

ITEM: Table = Item.metadata.tables["item"]

__all__ = [
    "NO_CLAIM",
    "Claim",
    "claim_item",
    "claim_next",
    "clear_claim",
    "expire_leases",
    "hold_batch_for",
    "hold_for",
    "lease_to",
    "lock_claimed_item",
    "record_claim_event",
    "release",
    "release_row",
    "renew",
    "verify_claim",
]


@dataclass(frozen=True, slots=True)
class Claim:
    """An item leased to one reviewer until `lease_expires_at`.

    `breakdown` explains the item's priority part by part; `token` proves the lease.
    """

    item_id: int
    reviewer: str
    token: str
    queue: str
    claimed_at: datetime
    lease_expires_at: datetime
    priority: float
    breakdown: dict[str, Any]
    item: ItemPublic

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the item without reporter data)."""
        return fields_dict(
            self,
            claimed_at=self.claimed_at.isoformat(),
            lease_expires_at=self.lease_expires_at.isoformat(),
            item=self.item.model_dump(mode="json"),
        )


def _claim_from_row(row: Item) -> Claim:
    assert row.id is not None and row.claimed_by and row.claim_token
    assert row.claimed_at is not None and row.lease_expires_at is not None
    return Claim(
        item_id=row.id,
        reviewer=row.claimed_by,
        token=row.claim_token,
        queue=row.queue,
        claimed_at=row.claimed_at,
        lease_expires_at=row.lease_expires_at,
        priority=row.priority,
        breakdown=row.priority_breakdown,
        item=ItemPublic.model_validate(row, from_attributes=True),
    )


def _with_second_reviews(queues: Sequence[str]) -> list[str]:
    """`queues` plus the second-review queue of each policy queue among them."""
    wanted = set(queues) | {
        second_review_queue(q)
        for q in queues
        if not is_senior_queue(q) and not is_second_review_queue(q)
    }
    return sorted(wanted)


_CANDIDATES = re.compile(
    r"FROM item\s+WHERE item\.status = 'pending' AND item\.queue NOT LIKE '%:senior'"
)


_CLAIMABLE_INDEX = "ix_item_pending_claimable"


def _indexed_by(dialect: str, sql: str) -> str:
    """On SQLite, the claim of every queue but the senior ones names its index: without
    it SQLite's planner (with or without ANALYZE statistics) takes `ix_item_status_lease`
    for `status = 'pending'` and sorts every pending row on each claim."""
    if dialect != "sqlite":
        return sql
    sql, found = _CANDIDATES.subn(
        lambda m: m.group(0).replace("FROM item", f"FROM item INDEXED BY {_CLAIMABLE_INDEX}", 1),
        sql,
    )
    assert found == 1, "the claim's candidate search changed: update `_CANDIDATES`"
    return sql


_claimable_index_on: weakref.WeakKeyDictionary[Engine, bool] = weakref.WeakKeyDictionary()


def _sqlite_has_claimable_index(conn: Connection) -> bool:
    """Whether this SQLite database has `ix_item_pending_claimable` (migration
    `0025_claim_claimable_index`), looked up once per engine: `INDEXED BY` an index that
    is not there is an error, and a database opened without migrating (an older schema,
    `auto_migrate=False`) lacks it."""
    engine = conn.engine
    found = _claimable_index_on.get(engine)
    if found is None:
        found = _claimable_index_on[engine] = (
            conn.exec_driver_sql(
                "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?",
                (_CLAIMABLE_INDEX,),
            ).first()
            is not None
        )
    return found


@functools.cache
def _claim_statement(
    dialect: str,
    queues: int,
    graphic: int,
    seen: bool,
    indexed: bool = False,
    audited: bool = False,
    ids_from_setting: bool = False,
) -> Prepared:
    """The claim UPDATE, built and compiled once per dialect, number of queues (0: every
    queue but the senior ones), number of graphic policies an exposure hold may keep
    back (0: no hold) and, on PostgreSQL, whether it also writes the exposure of the
    item shown (`seen`: `ClaimSeen.insert_cte`, in the same statement) and the audit
    event of the claim (`audited`: `inline_append_cte`; the event's id, hash, previous
    hash and chain follow the item's columns, its chain and id taken from the
    transaction's prologue with `ids_from_setting`); it is the hottest path. Lists are bound
    one parameter per element (`q_0`, `h_graphic_0`, ...), so the statement's SQL is
    fixed and the driver can keep it prepared."""
    if dialect == "postgresql" and graphic and not queues:
        candidate: ColumnElement[int] = held_claim_candidate(graphic)
    else:
        conditions = claimable(ITEM, queues, per_row=dialect == "postgresql")
        if graphic:
            conditions.append(ClaimHold.condition(ITEM.c.policy, graphic))
        search = (
            select(ITEM.c.id)
            .where(*conditions)
            .order_by(ITEM.c.priority.desc(), ITEM.c.id)
            .limit(ONE)
        )
        if dialect == "postgresql":
            search = search.with_for_update(skip_locked=True)
        candidate = search.scalar_subquery()
    claim = (
        update(ITEM)
        .where(
            ITEM.c.id == candidate,
            ITEM.c.status == ItemStatus.PENDING.value,
        )
        .values(
            status=ItemStatus.CLAIMED.value,
            claimed_by=bindparam("reviewer"),
            claim_token=bindparam("token"),
            claimed_at=bindparam("now", type_=ITEM.c.claimed_at.type),
            lease_expires_at=bindparam("expires", type_=ITEM.c.lease_expires_at.type),
            updated_at=bindparam("now", type_=ITEM.c.updated_at.type),
        )
        .returning(*ITEM.c)
    )
    if not seen and not audited:
        return Prepared(claim, sql_for=_indexed_by if indexed and not queues else None)
    claimed = claim.cte("claimed")
    if audited:
        logged = inline_append_cte(claimed, claimed.c.id, ids_from_setting=ids_from_setting)
        query = select(
            *claimed.c, logged.c.id, logged.c.hash, logged.c.prev_hash, logged.c.chain
        ).select_from(claimed.outerjoin(logged, true()))
    else:
        query = select(*claimed.c)
    if seen:
        query = query.add_cte(ClaimSeen.insert_cte(claimed))
    return Prepared(query)


_ITEM_COLUMNS = tuple(c.name for c in ITEM.c)


def _claim_from_mapping(row: dict[str, Any]) -> Claim:
    """The claim an item row (every column, by name) shows."""
    return Claim(
        item_id=row["id"],
        reviewer=row["claimed_by"],
        token=row["claim_token"],
        queue=row["queue"],
        claimed_at=row["claimed_at"],
        lease_expires_at=row["lease_expires_at"],
        priority=row["priority"],
        breakdown=row["priority_breakdown"],
        item=ItemPublic.model_validate(row),
    )


def claim_params(
    *,
    reviewer: str,
    wanted: Sequence[str],
    lease_seconds: int,
    now: datetime,
    hold: ClaimHold | None,
    seen: ClaimSeen | None,
) -> dict[str, Any]:
    """The claim statement's parameters but the audit event's: a new token, the lease,
    the queues `wanted` (`_with_second_reviews`), the exposure hold's and, with `seen`
    (PostgreSQL, in the statement), the exposure record's."""
    params: dict[str, Any] = {
        "reviewer": reviewer,
        "token": secrets.token_hex(16),
        "now": now,
        "expires": now + timedelta(seconds=lease_seconds),
    }
    params |= {f"q_{i}": q for i, q in enumerate(wanted)}
    if hold is not None:
        params |= hold.params
    if seen is not None:
        params |= seen.params()
    return params


def claim_event(reviewer: str, now: datetime, expires: datetime) -> tuple[AuditRecord, str]:
    """The `claimed` event of a claim (its `item_id` to be filled in), and the lease's
    end as it reads back (aware UTC, ISO), which its `after` holds."""
    expires_text = expires.astimezone(UTC).isoformat()
    after = {"status": "claimed", "lease_expires_at": expires_text}
    return AuditRecord(reviewer, "claimed", now, None, {"status": "pending"}, after), expires_text


def claimed_row(found: Sequence[Any], expires_text: str) -> dict[str, Any]:
    """The item columns, by name, of a row the claim statement returned (its lease
    checked against `expires_text`, what it was given)."""
    row = dict(zip(_ITEM_COLUMNS, found[: len(_ITEM_COLUMNS)], strict=True))
    if row["lease_expires_at"].isoformat() != expires_text:
        raise AssertionError(f"item {row['id']}: lease_expires_at read back otherwise")
    return row


def claim_next(
    session: Session,
    *,
    reviewer: str,
    queues: Sequence[str] | None,
    lease_seconds: int,
    now: datetime,
    hold: ClaimHold | None = None,
    seen: ClaimSeen | None = None,
) -> Claim | None:
    """Lease the highest-priority pending item of `queues` to `reviewer`.

    With `hold`, items of graphic policies are not handed out while the reviewer's
    exposure budget holds them back (decided in the claim statement itself); with
    `seen`, the item shown is added to the reviewer's exposure (on PostgreSQL by the
    claim statement itself).

    `queues=None` means every queue but the senior ones; a policy's queue includes its
    second-review queue (`<policy>:second`). Items the reviewer already decided (a
    second review, a disagreement, an appeal) are skipped. On PostgreSQL the candidate row
    is locked with `FOR UPDATE SKIP LOCKED`, so concurrent claimers never wait on or
    share a row; on SQLite the transaction is `BEGIN IMMEDIATE`. (`_claims.pipelined`
    runs the same statement on PostgreSQL without a session, in one pipeline.)
    """
    conn = session.connection()
    wanted = _with_second_reviews(queues) if queues else []
    dialect = conn.dialect.name
    in_statement = seen is not None and dialect == "postgresql"
    params = claim_params(
        reviewer=reviewer,
        wanted=wanted,
        lease_seconds=lease_seconds,
        now=now,
        hold=hold,
        seen=seen if in_statement else None,
    )
    graphic = len(hold.graphic) if hold else 0
    indexed = dialect == "sqlite" and not wanted and _sqlite_has_claimable_index(conn)
    event, expires_text = claim_event(reviewer, now, params["expires"])
    inline = inline_append(session, event)
    if inline is not None:
        params |= inline.params
    statement = _claim_statement(
        dialect, len(wanted), graphic, in_statement, indexed, inline is not None
    )
    found = statement.first(conn, params)
    if found is None:
        return None
    row = claimed_row(found, expires_text)
    if seen is not None and not in_statement:
        seen.record(
            session,
            reviewer=reviewer,
            item_id=row["id"],
            queue=row["queue"],
            policy=row["policy"],
            now=now,
        )
    appended = inline is not None and inline.appended(
        session,
        item_id=row["id"],
        event_id=found[-4],
        event_hash=found[-3],
        prev_hash=found[-2],
    )
    if not appended:
        record_events(session, [replace(event, item_id=row["id"])])
    return _claim_from_mapping(row)


def claim_item(
    session: Session, *, item_id: int, reviewer: str, lease_seconds: int, now: datetime
) -> Claim:
    """Lease one given item to `reviewer` (for scripts and bots deciding a known item).

    An item already claimed by the same reviewer returns that claim; one claimed by
    someone else under a live lease is refused with `ClaimLost`.
    """
    row = session.scalars(
        select(Item).where(col(Item.id) == item_id).with_for_update()
    ).one_or_none()
    if row is None:
        raise NotFound(f"item {item_id} does not exist")
    live = row.lease_expires_at is not None and row.lease_expires_at > now
    if row.status == ItemStatus.CLAIMED and live:
        if row.claimed_by == reviewer:
            return _claim_from_row(row)
        raise ClaimLost(
            f"item {item_id} is claimed by another reviewer until "
            f"{row.lease_expires_at.isoformat() if row.lease_expires_at else '?'}"
        )
    if row.status == ItemStatus.DECIDED:
        raise InvalidState(f"item {item_id} is already decided ({row.final_label})")
    if session.scalar(select(decided_by(reviewer)).where(ITEM.c.id == item_id)):
        raise PermissionDenied(
            f"item {item_id} in {row.queue} needs a reviewer other than {reviewer}, "
            "who already decided it"
        )
    before = {"status": row.status, "claimed_by": row.claimed_by}
    _lease_recorded(session, row, reviewer, lease_seconds, now, before=before)
    return _claim_from_row(row)


def verify_claim(
    *,
    claim: Claim,
    status: str,
    token: str | None,
    lease_expires_at: datetime | None,
    now: datetime,
) -> None:
    """Raise `LeaseExpired` or `ClaimLost` unless the stored state shows `claim` holding."""
    if token != claim.token or status != ItemStatus.CLAIMED:
        if status == ItemStatus.PENDING and claim.lease_expires_at <= now:
            raise LeaseExpired(
                f"the lease on item {claim.item_id} expired at "
                f"{claim.lease_expires_at.isoformat()}; the item went back to the queue"
            )
        holder = "decided" if status == ItemStatus.DECIDED else f"now {status}"
        raise ClaimLost(f"item {claim.item_id} is no longer claimed by {claim.reviewer} ({holder})")
    if lease_expires_at is not None and lease_expires_at <= now:
        raise LeaseExpired(
            f"the lease on item {claim.item_id} expired at {lease_expires_at.isoformat()}"
        )


def lock_claimed_item(session: Session, *, claim: Claim, now: datetime) -> Item:
    """The claimed item, row-locked, if `claim` still holds; else `LeaseExpired`/`ClaimLost`."""
    row = session.scalars(
        select(Item).where(col(Item.id) == claim.item_id).with_for_update()
    ).one_or_none()
    if row is None:
        raise NotFound(f"item {claim.item_id} does not exist")
    verify_claim(
        claim=claim,
        status=row.status,
        token=row.claim_token,
        lease_expires_at=row.lease_expires_at,
        now=now,
    )
    return row


NO_CLAIM: dict[str, Any] = {
    "claimed_by": None,
    "claim_token": None,
    "claimed_at": None,
    "lease_expires_at": None,
}
"""The claim columns of an item nobody holds (to update rows with; `clear_claim` for one)."""


def lease_to(row: Item, reviewer: str, seconds: float, now: datetime) -> None:
    """Claim `row` for `reviewer` under a new token, for `seconds` from `now`."""
    row.status = ItemStatus.CLAIMED
    row.claimed_by = reviewer
    row.claim_token = secrets.token_hex(16)
    row.claimed_at = now
    row.lease_expires_at = now + timedelta(seconds=seconds)
    row.updated_at = now


def clear_claim(row: Item, now: datetime) -> None:
    """End `row`'s claim (the caller sets its status)."""
    row.claimed_by = None
    row.claim_token = None
    row.claimed_at = None
    row.lease_expires_at = None
    row.updated_at = now


def _lease_recorded(
    session: Session,
    row: Item,
    holder: str,
    seconds: float,
    now: datetime,
    *,
    before: dict[str, Any],
    detail: dict[str, Any] | None = None,
) -> None:
    """`lease_to`, flushed, and audited as `claimed` by `holder`."""
    lease_to(row, holder, seconds, now)
    session.flush()
    after = {"status": "claimed"}
    record_events(session, [AuditRecord(holder, "claimed", now, row.id, before, after, detail)])


def release_row(
    session: Session, row: Item, *, actor: str, now: datetime, detail: dict[str, Any] | None
) -> None:
    """Give the claimed `row` back to its queue, audited as `released` by `actor`."""
    row.status = ItemStatus.PENDING
    clear_claim(row, now)
    session.flush()
    before, after = {"status": "claimed"}, {"status": "pending"}
    record_events(session, [AuditRecord(actor, "released", now, row.id, before, after, detail)])


def record_claim_event(
    session: Session, claim: Claim, event: str, *, at: datetime, **changes: Unpack[EventChanges]
) -> None:
    """Audit `event` on the claimed item, by the reviewer who holds `claim`."""
    record_events(session, [AuditRecord(claim.reviewer, event, at, claim.item_id, **changes)])


def _holding(claim_holds: Any) -> Any:
    """`claim_holds` (an UPDATE of the claimed item) only while the claim still holds:
    same token, still claimed, lease not run out (what `verify_claim` checks)."""
    return claim_holds.where(
        ITEM.c.id == bindparam("l_item_id"),
        ITEM.c.claim_token == bindparam("l_token"),
        ITEM.c.status == ItemStatus.CLAIMED.value,
        or_(
            ITEM.c.lease_expires_at.is_(None),
            ITEM.c.lease_expires_at > bindparam("l_now", type_=ITEM.c.lease_expires_at.type),
        ),
    )


_RENEW = Prepared(
    _holding(update(ITEM))
    .values(
        lease_expires_at=bindparam("l_expires", type_=ITEM.c.lease_expires_at.type),
        updated_at=bindparam("l_now", type_=ITEM.c.updated_at.type),
    )
    .returning(*ITEM.c)
)
_RELEASE = Prepared(
    _holding(update(ITEM))
    .values(
        status=ItemStatus.PENDING.value,
        **NO_CLAIM,
        updated_at=bindparam("l_now", type_=ITEM.c.updated_at.type),
    )
    .returning(ITEM.c.id)
)


def _holding_params(claim: Claim, now: datetime) -> dict[str, Any]:
    return {"l_item_id": claim.item_id, "l_token": claim.token, "l_now": now}


def _forget(session: Session, item_id: int) -> None:
    """The item row changed behind the ORM: a loaded `Item` reads it again when used."""
    loaded = session.identity_map.get(identity_key(Item, item_id))
    if loaded is not None:
        session.expire(loaded)


def renew(session: Session, *, claim: Claim, lease_seconds: int, now: datetime) -> Claim:
    """Extend a live claim's lease by `lease_seconds` from now."""
    conn = session.connection()
    params = _holding_params(claim, now) | {"l_expires": now + timedelta(seconds=lease_seconds)}
    found = _RENEW.first(conn, params)
    if found is None:
        lock_claimed_item(session, claim=claim, now=now)  # raises what no longer holds
        raise AssertionError(f"claim on item {claim.item_id} holds but was not renewed")
    _forget(session, claim.item_id)
    row = dict(zip(_ITEM_COLUMNS, found, strict=True))
    after = {"lease_expires_at": row["lease_expires_at"].isoformat()}
    record_claim_event(session, claim, "renewed", at=now, after=after)
    return _claim_from_mapping(row)


def release(session: Session, *, claim: Claim, now: datetime, note: str = "") -> None:
    """Give a claimed item back to its queue (a skip)."""
    if _RELEASE.first(session.connection(), _holding_params(claim, now)) is None:
        lock_claimed_item(session, claim=claim, now=now)  # raises what no longer holds
        raise AssertionError(f"claim on item {claim.item_id} holds but was not released")
    _forget(session, claim.item_id)
    detail = {"note": note} if note else None
    before, after = {"status": "claimed"}, {"status": "pending"}
    record_events(
        session,
        [AuditRecord(claim.reviewer, "released", now, claim.item_id, before, after, detail)],
    )


def hold_for(
    session: Session, *, item_id: int, holder: str, reason: str, now: datetime, seconds: int = 60
) -> None:
    """Lease a pending item to `holder` (an external tool such as Label Studio) for
    `seconds`, e.g. when an annotation arrives for an item it had given back."""
    row = session.scalars(select(Item).where(col(Item.id) == item_id).with_for_update()).one()
    if row.status != ItemStatus.PENDING:
        raise InvalidState(f"item {item_id} is {row.status}, not pending")
    before, detail = {"status": "pending"}, {"reason": reason}
    _lease_recorded(session, row, holder, seconds, now, before=before, detail=detail)


def hold_batch_for(
    session: Session,
    *,
    item_ids: Sequence[int],
    holder: str,
    lease_seconds: float,
    detail: dict[str, Any],
    now: datetime,
) -> list[Item]:
    """Lease the still-pending items of `item_ids` to `holder` (an external tool such as
    Label Studio) under one token, highest priority first; each claim is audited with
    `detail`. Returns the items leased."""
    token = secrets.token_hex(16)
    expires = now + timedelta(seconds=lease_seconds)
    leased = list(
        session.scalars(
            update(Item)
            .where(col(Item.id).in_(item_ids), col(Item.status) == ItemStatus.PENDING)
            .values(
                status=ItemStatus.CLAIMED,
                claimed_by=holder,
                claim_token=token,
                claimed_at=now,
                lease_expires_at=expires,
                updated_at=now,
            )
            .returning(Item)
        )
    )
    leased.sort(key=lambda item: (-item.priority, item.id or 0))
    record_events(
        session,
        [
            AuditRecord(
                holder,
                "claimed",
                now,
                item.id,
                {"status": "pending"},
                {"status": "claimed", "lease_expires_at": expires.isoformat()},
                detail,
            )
            for item in leased
        ],
    )
    return leased


def expire_leases(session: Session, *, now: datetime, actor: str = "system") -> int:
    """Return every claim whose lease ran out to pending; the number returned."""
    rows = session.execute(
        update(Item)
        .where(
            col(Item.status) == ItemStatus.CLAIMED,
            col(Item.lease_expires_at) <= now,
        )
        .values(status=ItemStatus.PENDING, **NO_CLAIM, updated_at=now)
        .returning(col(Item.id), col(Item.claimed_by))
    ).all()
    record_events(
        session,
        [
            AuditRecord(
                actor, "lease_expired", now, item_id, {"status": "claimed"}, {"status": "pending"}
            )
            for item_id, _ in rows
        ],
    )
    return len(rows)
