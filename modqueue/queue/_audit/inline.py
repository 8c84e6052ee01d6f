"""One audit event appended by the statement that makes the change (PostgreSQL): no
statement of its own, so no round trip of its own.

`claim_next` appends its `claimed` event this way, inside the claim statement: the item
id comes from the claim, the chain head's hash from the chain. Both are the last fields
of the canonical form (`canonical_event`: sorted keys, `item_id` then `prev_hash`), so
Python prints everything else, and the database completes the bytes and hashes them
(`sha256`), byte for byte what `record_events` would hash. The head is read by that
statement, under the chain lock the transaction's first statement took
(`chain_prologue`): that statement's snapshot is newer than the lock, so the head is
current, and no guard is needed. The row comes back with the head it followed; Python
checks the database's hash against its own before the transaction can commit.

When the transaction cannot (SQLite, no chain lock was free, no id taken ahead, personal
values to split), `inline_append` says so and the caller appends as usual.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import (
    Text,
    bindparam,
    case,
    cast,
    func,
    insert,
    literal_column,
    select,
    text,
    true,
)
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import CTE, FromClause
from sqlmodel import Session

from modqueue.queue._audit.chain import (
    _CANONICAL,
    _CHAIN_KEY,
    _COLUMNS,
    AUDIT,
    AUDIT_NEXT_SETTING,
    GENESIS_HASH,
    SERVICE_KEY,
    AuditRecord,
    _canonical,
    _ChainState,
    _iso,
    _json_value,
    _record_hash,
    _split,
)

__all__ = ["InlineAppend", "inline_append", "inline_append_cte", "inline_params"]

_BETWEEN = ',"prev_hash":"'
_END = '"}'


@dataclass(frozen=True, slots=True)
class InlineAppend:
    """An event to append inside another statement: its parameters (`params`, for
    `inline_append_cte`) and what `appended` checks the returned row against."""

    record: AuditRecord  # `item_id` to be filled in
    event_id: int
    chain: int
    params: dict[str, Any]

    def appended(
        self,
        session: Session,
        *,
        item_id: int,
        event_id: int | None,
        event_hash: str | None,
        prev_hash: str | None,
    ) -> bool:
        """Take note of what the statement returned for the event: True when it was
        appended (its hash checked against Python's: a mismatch raises, so the
        transaction rolls back), False when it was not (the chain's id sequence was
        behind the head: the caller appends with `record_events`, which reads the head
        again)."""
        state: _ChainState = session.connection().info[_CHAIN_KEY]
        state.spare_ids.remove(self.event_id)
        if event_id is None:
            state.head, state.checked = None, False
            return False
        assert prev_hash is not None and event_hash is not None
        record = replace(self.record, item_id=item_id)
        expected = _record_hash(self.event_id, self.chain, record, prev_hash)
        if event_hash != expected:
            raise AssertionError(
                f"audit event {event_id}: the database hashed {event_hash}, Python {expected}"
            )
        state.head, state.checked = (event_id, event_hash), True
        return True


def inline_params(
    record: AuditRecord, service: str | None
) -> tuple[AuditRecord, dict[str, Any]] | None:
    """`record` (its `item_id` left to the statement; `service` named in its detail, as
    `record_events` does) as stored, and the parameters of `inline_append_cte` but for
    the chain and the id (`a_chain`, `a_id`, `a_head_chain`); None when it has personal
    values to split off (it must be appended with `record_events`).

    The canonical form (sorted keys) is cut around the fields the database fills in:
    `a_p0` is everything before `chain` (`before` and the keys ahead of it), `a_p1` the
    part from `detail` up to `"id":`; the id, `item_id` and `prev_hash` follow. Chain 0
    hashes without a `chain` key (`_canonical`), which the statement leaves out too.
    The cut is checked against `_canonical` for the record itself."""
    if service is not None:
        record = replace(record, detail={**(record.detail or {}), "service": service})
    [split], personal = _split([replace(record, item_id=0)])
    if personal[0] is not None:
        return None
    at_text = _iso(split.at)
    head = _CANONICAL.encode(
        {
            "actor": split.actor,
            "after": _json_value(split.after),
            "at": at_text,
            "before": _json_value(split.before),
        }
    )
    middle = _CANONICAL.encode({"detail": _json_value(split.detail), "event": split.event})
    p0, p1 = head[:-1] + ",", middle[1:-1] + ',"id":'
    for chain, chained in ((0, ""), (1, '"chain":1,')):
        whole = _canonical(
            2,
            chain,
            at_text,
            split.actor,
            split.event,
            3,
            split.before,
            split.after,
            split.detail,
            "h",
        )
        cut = f'{p0}{chained}{p1}2,"item_id":3{_BETWEEN}h{_END}'.encode()
        if whole != cut:  # the canonical form changed: update this module
            raise AssertionError("the canonical form no longer cuts as `inline_params` cuts it")
    params = {
        "a_at": split.at,
        "a_actor": split.actor,
        "a_event": split.event,
        "a_before": split.before,
        "a_after": split.after,
        "a_detail": split.detail,
        "a_p0": p0,
        "a_p1": p1,
        "a_between": _BETWEEN,
        "a_end": _END,
        "a_genesis": GENESIS_HASH,
    }
    return split, params


def inline_append(session: Session, record: AuditRecord) -> InlineAppend | None:
    """`record` (its `item_id` left to the statement) as an `InlineAppend` for this
    transaction, or None when it must be appended with `record_events`."""
    conn = session.connection()
    if conn.dialect.name != "postgresql":
        return None
    state: _ChainState | None = conn.info.get(_CHAIN_KEY)
    if state is None or state.transaction is not conn.get_transaction() or not state.spare_ids:
        return None
    found = inline_params(record, session.info.get(SERVICE_KEY))
    if found is None:
        return None
    split, params = found
    event_id = state.spare_ids[0]
    params |= {"a_id": event_id, "a_chain": state.chain, "a_head_chain": state.chain}
    return InlineAppend(split, event_id, state.chain, params)


def expected_hash(
    record: AuditRecord, *, event_id: int, chain: int, item_id: int, prev_hash: str
) -> str:
    """The hash Python gives `record` (as `inline_params` returned it) stored as event
    `event_id` of `chain` for `item_id` after `prev_hash`: what the statement's must be."""
    return _record_hash(event_id, chain, replace(record, item_id=item_id), prev_hash)


_SETTING = f"current_setting('{AUDIT_NEXT_SETTING}', true)"
# The chain and the id a PostgreSQL prologue left in the transaction (`chain_prologue`).
_CHAIN_SET = f"CAST(NULLIF(split_part({_SETTING}, ':', 1), '') AS integer)"
_ID_SET = f"CAST(NULLIF(split_part({_SETTING}, ':', 2), '') AS bigint)"


def inline_append_cte(
    source: FromClause, item_id: ColumnElement[int], *, ids_from_setting: bool = False
) -> CTE:
    """An INSERT CTE appending the event `inline_params` describes for the one row of
    `source` (none: nothing appended), whose item is `item_id`; it returns the event's
    `id`, `hash`, `prev_hash` and `chain` (no row: the id taken ahead was not past the
    head).

    The chain and the id are the parameters `a_chain` and `a_id` (`InlineAppend`), or
    with `ids_from_setting` what the transaction's prologue left in
    `AUDIT_NEXT_SETTING`: a statement sent before the prologue's answer is read (a
    pipeline) knows neither; with none left (no chain was free) nothing is appended."""
    if ids_from_setting:
        chain: ColumnElement[Any] = literal_column(_CHAIN_SET)
        event_id: ColumnElement[Any] = literal_column(_ID_SET)
        head_chain = f"ARRAY[{_CHAIN_SET}]"
    else:
        chain = bindparam("a_chain", type_=AUDIT.c.chain.type)
        event_id = bindparam("a_id", type_=AUDIT.c.id.type)
        head_chain = "ARRAY[CAST(:a_head_chain AS integer)]"
    head = (
        select(AUDIT.c.id, AUDIT.c.hash)
        # `chain = ANY(ARRAY[...])` and `chain DESC, id DESC`: as `chain._HEAD`, one
        # entry of `ix_audit_event_chain` per partition.
        .where(text(f"audit_event.chain = ANY({head_chain})"))
        .order_by(AUDIT.c.chain.desc(), AUDIT.c.id.desc())
        .limit(literal_column("1"))
        .subquery("audit_head")
    )
    prev = func.coalesce(head.c.hash, bindparam("a_genesis", type_=Text()))
    # Chain 0 hashes without a `chain` key (`_canonical`).
    chained = case(
        (chain == 0, literal_column("''")),
        else_=literal_column("'\"chain\":'") + cast(chain, Text) + literal_column("','"),
    )
    canonical = (
        bindparam("a_p0", type_=Text())
        + chained
        + bindparam("a_p1", type_=Text())
        + cast(event_id, Text)
        + literal_column("',\"item_id\":'")
        + cast(item_id, Text)
        + bindparam("a_between", type_=Text())
        + prev
        + bindparam("a_end", type_=Text())
    )
    digest = func.encode(func.sha256(func.convert_to(canonical, literal_column("'UTF8'"))), "hex")
    values = {
        "id": event_id,
        "chain": chain,
        "at": bindparam("a_at", type_=AUDIT.c.at.type),
        "actor": bindparam("a_actor", type_=AUDIT.c.actor.type),
        "event": bindparam("a_event", type_=AUDIT.c.event.type),
        "item_id": item_id,
        "before": bindparam("a_before", type_=AUDIT.c.before.type),
        "after": bindparam("a_after", type_=AUDIT.c.after.type),
        "detail": bindparam("a_detail", type_=AUDIT.c.detail.type),
        "prev_hash": prev,
        "hash": digest,
    }
    rows = (
        select(*[values[c] for c in _COLUMNS])
        .select_from(source.outerjoin(head, true()))
        .where(event_id > func.coalesce(head.c.id, 0))
    )
    return (
        insert(AUDIT)
        .from_select(_COLUMNS, rows)
        .returning(AUDIT.c.id, AUDIT.c.hash, AUDIT.c.prev_hash, AUDIT.c.chain)
        .cte("logged")
    )
