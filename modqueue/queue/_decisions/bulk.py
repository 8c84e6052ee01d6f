"""Set-based decisions: one label over many items in a handful of statements.

Part of the decision pipeline (with `pipeline.py`, the only writers of item decision
state, `decision` rows and the outbox). `decide_items` is the core a cluster decision
(`clusters.decide_cluster`), a propagated decision and a flood incident share: each item
still gets its own `decision` row, its own outbound action with its own idempotency key
and its own audit event in the hash chain, but the rows are written with batched
statements (multi-row `INSERT ... RETURNING`, one `UPDATE ... WHERE id IN (...)` per
chunk), never one transaction or one round trip per item.

`undo_items` and `reverse_items` take back such a set: undo cancels actions not yet sent
(within the grace period the caller checks), reverse cancels the unsent ones and queues
the opposite of those that may have taken effect (`reversal.plan_rows`, the rule of
`plan_reversals`). Both put the items back to pending in their policy's queue.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    Connection,
    Integer,
    Table,
    TextClause,
    any_,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Dialect, RowMapping
from sqlmodel import Session

from modqueue._exceptions import InvalidState
from modqueue.guidelines import REVERSAL_OF, Action, GuidelineSet, Label
from modqueue.queue._audit.chain import AuditRecord, record_events
from modqueue.queue._claims.leases import ITEM, NO_CLAIM
from modqueue.queue._core.counter_models import QUEUE_COUNTER_SLOTS, QueueCounter
from modqueue.queue._core.models import Decision, Item, OutboundAction
from modqueue.queue._core.quality_models import Appeal, AppealStatus
from modqueue.queue._core.routing import (
    is_second_review_queue,
    is_senior_queue,
    policy_of_queue,
    second_review_queue,
)
from modqueue.queue._core.types import ActionStatus, DecisionStatus, ItemStatus
from modqueue.queue._decisions.pipeline import outbox_row
from modqueue.queue._decisions.reversal import plan_rows
from modqueue.queue._decisions.settlement import DecisionKind

__all__ = [
    "CHUNK",
    "BulkOutcome",
    "Skipped",
    "chunks",
    "decide_items",
    "in_ids",
    "lock_items",
    "reverse_items",
    "undo_items",
]

DECISION: Table = Decision.metadata.tables["decision"]
ACTION: Table = OutboundAction.metadata.tables["outbound_action"]
APPEAL: Table = Appeal.metadata.tables["appeal"]
COUNTER: Table = QueueCounter.metadata.tables["queue_counter"]
CHUNK = 900
"""Ids per `IN (...)` list: under SQLite's bound-parameter limit, few statements on
PostgreSQL."""

# Multi-row INSERT ... RETURNING (SQLAlchemy's "insertmanyvalues") on SQLite; on
# PostgreSQL one `INSERT ... SELECT FROM unnest(<one array per column>)` (`_insert_rows`):
# a statement with a handful of parameters, where a multi-row VALUES list has one per
# value (and the driver's query parsing grows with them). Each returned row names its
# item, so the order of the rows does not matter.
_INSERT_DECISIONS = insert(DECISION).returning(DECISION.c.id, DECISION.c.item_id)
_INSERT_ACTIONS = insert(ACTION).returning(ACTION.c.id, ACTION.c.item_id)


@functools.cache
def _unnest_insert(
    table: Table, names: tuple[str, ...], varying: frozenset[str], dialect: Dialect
) -> TextClause:
    """`INSERT INTO table (names) SELECT ... FROM unnest(...)`: one array parameter per
    column in `varying`, one plain parameter for each of the others (the same in every
    row: no array of 10,000 copies to convert and send)."""

    def sql_type(n: str) -> str:
        return str(table.c[n].type.compile(dialect=dialect))

    arrays = [n for n in names if n in varying]
    unnest = ", ".join(f"CAST(:{n} AS {sql_type(n)}[])" for n in arrays)
    columns = ", ".join(f"u.{n}" if n in varying else f"CAST(:{n} AS {sql_type(n)})" for n in names)
    return text(
        f"INSERT INTO {table.name} ({', '.join(names)}) SELECT {columns} "
        f"FROM unnest({unnest}) AS u({', '.join(arrays)}) RETURNING id, item_id"
    )


def _insert_rows(
    conn: Connection, table: Table, statement: Any, rows: list[dict[str, Any]]
) -> list[tuple[int, int]]:
    """Insert `rows` (dicts of every column but `id`) into `table`; `(id, item_id)` of each."""
    if not rows:
        return []
    if conn.dialect.name != "postgresql":
        return [(int(a), int(b)) for a, b in conn.execute(statement, rows).all()]
    names = tuple(rows[0])
    first = rows[0]
    params: dict[str, Any] = {}
    varying = {"item_id"}  # at least one array, for unnest to give the rows
    for n in names:
        process = table.c[n].type.bind_processor(conn.dialect)
        value = first[n]
        values = [r[n] for r in rows]
        same = n not in varying and values.count(value) == len(values)
        if same and len(set(map(type, values))) == 1:  # equal and of one type
            params[n] = process(value) if process is not None else value
            continue
        varying.add(n)
        params[n] = [process(v) for v in values] if process is not None else values
    statement = _unnest_insert(table, names, frozenset(varying), conn.dialect)
    return [(int(a), int(b)) for a, b in conn.execute(statement, params).all()]


_LOCK_COLUMNS = (
    ITEM.c.id,
    ITEM.c.status,
    ITEM.c.queue,
    ITEM.c.policy,
    ITEM.c.source,
    ITEM.c.external_id,
    ITEM.c.claimed_by,
    ITEM.c.final_label,
    ITEM.c.cluster_id,
    ITEM.c.deadline_at,
)


@dataclass(frozen=True, slots=True)
class Skipped:
    """An item left out of a set decision, and why (`claimed by alice`, `decided`,
    `in second review`, `under appeal`, `missing`)."""

    item_id: int
    reason: str


@dataclass(slots=True)
class BulkOutcome:
    """What a set decision wrote: the items decided (final), those sent to a blind
    second review, the new decision and outbox rows' ids, and the items skipped."""

    decided: list[int] = field(default_factory=list)
    second_review: list[int] = field(default_factory=list)
    decision_ids: dict[int, int] = field(default_factory=dict)  # item id -> decision id
    action_ids: dict[int, int] = field(default_factory=dict)  # item id -> outbox row id
    skipped: list[Skipped] = field(default_factory=list)

    @property
    def applied(self) -> list[int]:
        """Every item that got a decision row (final or sent to second review)."""
        return sorted(self.decision_ids)


def chunks(ids: Sequence[int], size: int = CHUNK) -> Iterator[list[int]]:
    """`ids` in lists of at most `size`, in order."""
    for start in range(0, len(ids), size):
        yield list(ids[start : start + size])


def _parts(conn: Connection, ids: Sequence[int]) -> Iterator[list[int]]:
    """`ids` in as few lists as the backend takes in one `in_ids` test: every id at
    once on PostgreSQL (one array parameter), `CHUNK` at a time on SQLite."""
    if conn.dialect.name == "postgresql":
        if ids:
            yield list(ids)
        return
    yield from chunks(ids)


def in_ids(conn: Connection, column: Any, ids: list[int]) -> Any:
    """`column IN ids`: on PostgreSQL `column = ANY(:array)` (one parameter)."""
    if conn.dialect.name == "postgresql":
        return column == any_(literal(ids, type_=ARRAY(Integer)))
    return column.in_(ids)


def lock_items(session: Session, item_ids: Iterable[int]) -> dict[int, RowMapping]:
    """Lock the rows of `item_ids` (`FOR UPDATE`, in id order, so two set decisions over
    overlapping sets cannot deadlock) and return what a set decision reads of them."""
    ids = sorted(set(item_ids))
    conn = session.connection()
    found: dict[int, RowMapping] = {}
    for part in _parts(conn, ids):
        query = (
            select(*_LOCK_COLUMNS)
            .where(in_ids(conn, ITEM.c.id, part))
            .order_by(ITEM.c.id)
            .with_for_update()
        )
        for row in conn.execute(query).mappings():
            found[int(row["id"])] = row
    return found


def _under_appeal(conn: Connection, item_ids: list[int]) -> set[int]:
    found: set[int] = set()
    for part in _parts(conn, item_ids):
        query = select(APPEAL.c.item_id).where(
            in_ids(conn, APPEAL.c.item_id, part), APPEAL.c.status == AppealStatus.OPEN
        )
        found |= {int(v) for v in conn.execute(query).scalars()}
    return found


def _why_not(row: RowMapping, reviewer: str) -> str | None:
    """Why `row` cannot take a set decision now (None: it can)."""
    if row["status"] == ItemStatus.DECIDED:
        return f"already decided ({row['final_label']})"
    if row["status"] == ItemStatus.CLAIMED:
        who = row["claimed_by"]
        return "claimed by you" if who == reviewer else f"claimed by {who}"
    if is_second_review_queue(row["queue"]):
        return "in second review"
    return None


def _forget(session: Session, item_ids: Iterable[int]) -> None:
    """Item rows changed behind the ORM: loaded `Item`s read them again when used."""
    changed = set(item_ids)
    for state in list(session.identity_map.all_states()):
        loaded = state.obj()
        mine = state.class_ is Item and state.key is not None and state.key[1][0] in changed
        if mine and loaded is not None:
            session.expire(loaded)


# While on (transaction-local), `item_count_moved` leaves the counters to the statement
# (migration `0021_bulkdecide_counted_moves`).
_COUNTED_MOVES = text("SELECT set_config('modqueue.counted_moves', :on, true)")


def _counted_update(ids: list[int], values: dict[str, Any]) -> Any:
    """PostgreSQL: update items `ids` with `values` and move `queue_counter` by what
    changed, in one statement: the old queue and status of each row (read in the same
    snapshot, before the update) and the new ones, summed per `(queue, status)`."""
    old = (
        select(ITEM.c.id, ITEM.c.queue, ITEM.c.status)
        .where(ITEM.c.id == any_(literal(ids, type_=ARRAY(Integer))))
        .cte("old")
    )
    done = (
        update(ITEM)
        .where(ITEM.c.id == old.c.id)
        .values(**values)
        .returning(
            old.c.queue.label("oq"),
            old.c.status.label("os"),
            ITEM.c.queue.label("nq"),
            ITEM.c.status.label("ns"),
        )
        .cte("done")
    )
    moved = or_(done.c.oq.is_distinct_from(done.c.nq), done.c.os.is_distinct_from(done.c.ns))
    deltas = union_all(
        select(done.c.oq.label("queue"), done.c.os.label("status"), literal(-1).label("d")).where(
            moved
        ),
        select(done.c.nq, done.c.ns, literal(1)).where(moved),
    ).subquery("deltas")
    per_queue = select(
        deltas.c.queue,
        deltas.c.status,
        func.pg_backend_pid() % QUEUE_COUNTER_SLOTS,
        func.sum(deltas.c.d),
    ).group_by(deltas.c.queue, deltas.c.status)
    bump = pg_insert(COUNTER).from_select(["queue", "status", "slot", "n"], per_queue)
    return bump.on_conflict_do_update(
        index_elements=[COUNTER.c.queue, COUNTER.c.status, COUNTER.c.slot],
        set_={"n": COUNTER.c.n + bump.excluded.n},
    )


def _update_in(conn: Connection, ids: Sequence[int], **values: Any) -> None:
    """Update the (locked) items `ids`. On PostgreSQL one statement that also moves the
    item counters for all of them (`_counted_update`), instead of the row trigger's two
    upserts per item."""
    if not ids:
        return
    if conn.dialect.name == "postgresql":
        conn.execute(_COUNTED_MOVES, {"on": "on"})
        conn.execute(_counted_update(sorted(ids), values))
        conn.execute(_COUNTED_MOVES, {"on": "off"})
        return
    for part in chunks(sorted(ids)):
        conn.execute(update(ITEM).where(ITEM.c.id.in_(part)).values(**values))


def decide_items(
    session: Session,
    *,
    item_ids: Iterable[int],
    reviewer: str,
    label: str,
    guidelines: GuidelineSet,
    now: datetime,
    origin: str,
    note: str = "",
    cluster_decision_id: int | None = None,
    second_review: Iterable[int] = (),
    seconds_spent: float = 0.0,
    event_detail: dict[str, Any] | None = None,
    locked: dict[int, RowMapping] | None = None,
) -> BulkOutcome:
    """Decide every pending item of `item_ids` with `label`, set-based.

    Each item gets its own `decision` row (`cluster_decision_id` set when given, kind
    `primary`, or `senior` in a senior queue), its own audit event (`decided`, by
    `reviewer`, with `event_detail` added) and, when the label's action is not `none`, its
    own pending outbox row with its own idempotency key. The items in `second_review`
    (the caller's sample: see `clusters.decide_cluster`) instead go to their policy's
    blind second-review queue, their action waiting for the second review as for a single
    decision. Items that are claimed, decided, in second review or under appeal are left
    alone and listed in `skipped`. `label` must be defined by every item's guideline
    (`UnknownLabel` otherwise) and final: an escalating label raises `InvalidState`
    (escalate one item instead). The caller authorizes (`DECIDE` on each queue) and runs
    it in its transaction; `locked` is what `lock_items` already returned for these
    items in it (saves reading them twice).
    """
    wanted = sorted(set(item_ids))
    rows = locked if locked is not None else lock_items(session, wanted)
    outcome = BulkOutcome(skipped=[Skipped(i, "missing") for i in wanted if i not in rows])
    open_rows: list[RowMapping] = []
    for item_id in wanted:
        row = rows.get(item_id)
        if row is None:
            continue
        reason = _why_not(row, reviewer)
        if reason is None:
            open_rows.append(row)
        else:
            outcome.skipped.append(Skipped(item_id, reason))
    senior_ids = [int(r["id"]) for r in open_rows if is_senior_queue(r["queue"])]
    conn = session.connection()
    appealed = _under_appeal(conn, senior_ids) if senior_ids else set()
    outcome.skipped += [Skipped(i, "under appeal") for i in sorted(appealed)]
    open_rows = [r for r in open_rows if int(r["id"]) not in appealed]
    if not open_rows:
        return outcome
    labels: dict[str, tuple[Label, str, str]] = {}  # policy -> (label, guideline id, version)
    for row in open_rows:
        policy = row["policy"] or policy_of_queue(row["queue"])
        if policy not in labels:
            guideline = guidelines.get(policy)
            chosen = guideline.label(label)
            if chosen.action == Action.ESCALATE:
                raise InvalidState(
                    f"label {chosen.id!r} escalates: a set decision must be final; "
                    "escalate one item instead"
                )
            labels[policy] = (chosen, guideline.id, guideline.version)
    sampled = set(second_review)
    # Per open item, once: its id, its policy's (label, guideline id, version), senior.
    open_items = [
        (
            int(row["id"]),
            row,
            labels[row["policy"] or policy_of_queue(row["queue"])],
            is_senior_queue(row["queue"]),
        )
        for row in open_rows
    ]
    values: list[dict[str, Any]] = [
        {
            "item_id": item_id,
            "reviewer": reviewer,
            "label": chosen.id,
            "action": chosen.action.value,
            "note": note,
            "guideline_id": guideline_id,
            "guideline_version": version,
            "seconds_spent": seconds_spent,
            "decided_at": now,
            "origin": origin,
            "kind": DecisionKind.SENIOR if senior else DecisionKind.PRIMARY,
            "status": DecisionStatus.ACTIVE.value,
            "external_ref": None,
            "cluster_decision_id": cluster_decision_id,
            "after_deadline": now > row["deadline_at"],
        }
        for item_id, row, (chosen, guideline_id, version), senior in open_items
    ]
    for decision_id, item_id in _insert_rows(conn, DECISION, _INSERT_DECISIONS, values):
        outcome.decision_ids[item_id] = decision_id
    second_ids = {i for i, _, _, senior in open_items if i in sampled and not senior}
    final = [(i, row, rule) for i, row, rule, _ in open_items if i not in second_ids]
    by_queue: dict[str, list[int]] = defaultdict(list)
    for item_id, row, _, _ in open_items:
        if item_id in second_ids:
            policy = row["policy"] or policy_of_queue(row["queue"])
            by_queue[second_review_queue(policy)].append(item_id)
    for queue, ids in by_queue.items():
        _update_in(conn, ids, status=ItemStatus.PENDING.value, queue=queue, updated_at=now)
    _update_in(
        conn,
        [i for i, _, _ in final],
        status=ItemStatus.DECIDED.value,
        decided_at=now,
        final_label=label,
        **NO_CLAIM,
        updated_at=now,
    )
    actions = [
        outbox_row(
            item_id=item_id,
            decision_id=outcome.decision_ids[item_id],
            action=chosen.action.value,
            reason=chosen.title,
            source=row["source"],
            external_id=row["external_id"],
            policy=row["policy"],
            label=chosen.id,
            now=now,
        )
        for item_id, row, (chosen, _, _) in final
        if chosen.action != Action.NONE
    ]
    for action_id, item_id in _insert_rows(conn, ACTION, _INSERT_ACTIONS, actions):
        outcome.action_ids[item_id] = action_id
    outcome.decided = [i for i, _, _ in final]
    outcome.second_review = sorted(second_ids)
    extra = event_detail or {}
    events = []
    for item_id, row, (chosen, _, version), _ in open_items:
        queue = row["queue"]
        if item_id in second_ids:
            after = {
                "status": ItemStatus.PENDING.value,
                "queue": second_review_queue(row["policy"] or policy_of_queue(queue)),
            }
            route: dict[str, Any] = {"route": "second_review"}
        else:
            after = {"status": ItemStatus.DECIDED.value, "queue": queue}
            route = {}
        events.append(
            AuditRecord(
                actor=reviewer,
                event="decided",
                at=now,
                item_id=item_id,
                before={"status": row["status"], "queue": queue},
                after={**after, "label": chosen.id},
                detail={
                    "decision_id": outcome.decision_ids[item_id],
                    "guideline_version": version,
                    "action": chosen.action.value,
                    "outbound_action_id": outcome.action_ids.get(item_id),
                    "origin": origin,
                    "cluster_decision_id": cluster_decision_id,
                    **route,
                    **extra,
                },
            )
        )
    record_events(session, events)
    _forget(session, outcome.decision_ids)
    return outcome


def _decisions_of(conn: Connection, decision_ids: Sequence[int]) -> list[RowMapping]:
    found: list[RowMapping] = []
    for part in _parts(conn, sorted(decision_ids)):
        query = (
            select(DECISION.c.id, DECISION.c.item_id, DECISION.c.status, DECISION.c.label)
            .where(in_ids(conn, DECISION.c.id, part))
            .order_by(DECISION.c.id)
            .with_for_update()
        )
        found += list(conn.execute(query).mappings())
    return found


def _actions_of(conn: Connection, item_ids: Sequence[int]) -> list[RowMapping]:
    found: list[RowMapping] = []
    for part in _parts(conn, sorted(item_ids)):
        query = (
            select(ACTION)
            .where(in_ids(conn, ACTION.c.item_id, part))
            .order_by(ACTION.c.id)
            .with_for_update()
        )
        found += list(conn.execute(query).mappings())
    return found


def _back_to_pending(
    conn: Connection, rows: dict[int, RowMapping], item_ids: Sequence[int], now: datetime
) -> dict[int, str]:
    """Items `item_ids` go back to pending in their policy's own queue (from a
    second-review queue) or the queue they were decided in; returns each one's queue."""
    queues: dict[int, str] = {}
    by_queue: dict[str, list[int]] = defaultdict(list)
    for item_id in item_ids:
        queue = rows[item_id]["queue"]
        if is_second_review_queue(queue):
            queue = policy_of_queue(queue)
        queues[item_id] = queue
        by_queue[queue].append(item_id)
    for queue, ids in by_queue.items():
        _update_in(
            conn,
            ids,
            status=ItemStatus.PENDING.value,
            queue=queue,
            final_label=None,
            decided_at=None,
            **NO_CLAIM,
            updated_at=now,
        )
    return queues


def _set_action_status(
    conn: Connection, ids: Sequence[int], *, status: str, error: str, now: datetime
) -> None:
    for part in _parts(conn, sorted(ids)):
        conn.execute(
            update(ACTION)
            .where(in_ids(conn, ACTION.c.id, part))
            .values(status=status, last_error=error, updated_at=now)
        )


def _set_decision_status(conn: Connection, ids: Sequence[int], status: str) -> None:
    for part in _parts(conn, sorted(ids)):
        conn.execute(
            update(DECISION).where(in_ids(conn, DECISION.c.id, part)).values(status=status)
        )


def _standing(rows: dict[int, RowMapping], decisions: list[RowMapping]) -> list[int]:
    """Items whose own state still is what the set decision left: decided with its label,
    or pending in a second-review queue (the sampled one)."""
    standing = []
    for d in decisions:
        row = rows.get(int(d["item_id"]))
        if row is None or d["status"] != DecisionStatus.ACTIVE:
            continue
        decided = row["status"] == ItemStatus.DECIDED and row["final_label"] == d["label"]
        waiting = row["status"] == ItemStatus.PENDING and is_second_review_queue(row["queue"])
        if decided or waiting:
            standing.append(int(d["item_id"]))
    return standing


def undo_items(
    session: Session,
    *,
    decision_ids: Sequence[int],
    actor: str,
    now: datetime,
    event_detail: dict[str, Any] | None = None,
) -> list[int]:
    """Undo a set decision's member decisions `decision_ids` before any action was sent.

    Raises `InvalidState` (nothing changes) when one of their actions was already sent or
    attempted: reverse instead. Each still-standing decision is marked `undone`, its
    pending action cancelled and its item put back to pending in its policy's queue (not
    claimed: a set has no one holder), with an `undone` audit event per item. Returns the
    items put back. The caller checks the grace period and who may undo.
    """
    conn = session.connection()
    decisions = _decisions_of(conn, decision_ids)
    rows = lock_items(session, [int(d["item_id"]) for d in decisions])
    ids = [int(d["id"]) for d in decisions]
    wanted_ids = set(ids)
    actions = [a for a in _actions_of(conn, list(rows)) if a["decision_id"] in wanted_ids]
    sent = [a for a in actions if a["status"] != ActionStatus.PENDING or a["attempts"] > 0]
    if sent:
        raise InvalidState(
            f"{len(sent)} of its actions were already sent to the platform (first: action "
            f"{sent[0]['id']} on item {sent[0]['item_id']}); reverse it instead"
        )
    standing = _standing(rows, decisions)
    by_item = {int(d["item_id"]): int(d["id"]) for d in decisions}
    _set_decision_status(conn, ids, DecisionStatus.UNDONE.value)
    _set_action_status(
        conn,
        [int(a["id"]) for a in actions],
        status=ActionStatus.CANCELLED.value,
        error="cancelled: cluster decision undone",
        now=now,
    )
    queues = _back_to_pending(conn, rows, standing, now)
    cancelled: dict[int, list[int]] = defaultdict(list)
    for a in actions:
        cancelled[int(a["item_id"])].append(int(a["id"]))
    record_events(
        session,
        [
            AuditRecord(
                actor=actor,
                event="undone",
                at=now,
                item_id=item_id,
                before={
                    "status": rows[item_id]["status"],
                    "queue": rows[item_id]["queue"],
                    "label": rows[item_id]["final_label"],
                },
                after={"status": ItemStatus.PENDING.value, "queue": queues[item_id]},
                detail={
                    "decision_id": by_item[item_id],
                    "cancelled_actions": cancelled.get(item_id, []),
                    **(event_detail or {}),
                },
            )
            for item_id in standing
        ],
    )
    _forget(session, rows)
    return standing


def reverse_items(
    session: Session,
    *,
    decision_ids: Sequence[int],
    actor: str,
    note: str,
    now: datetime,
    event_detail: dict[str, Any] | None = None,
) -> tuple[list[int], list[int]]:
    """Reverse a set decision's member decisions `decision_ids`, at any time.

    For each member, its decision's takedown actions are sorted by the rule of
    `plan_reversals`: never attempted ones are cancelled, those that may have taken
    effect get their opposite action (`REVERSAL_OF`) queued with its own idempotency key
    and `reverses_id`. The decisions are marked `superseded` and the items still standing
    on them go back to pending in their policy's queue, to be decided afresh. One
    `decision_reversed` audit event per member. Returns `(items put back, reversal
    outbox ids)`.
    """
    conn = session.connection()
    decisions = _decisions_of(conn, decision_ids)
    active = [d for d in decisions if d["status"] == DecisionStatus.ACTIVE]
    rows = lock_items(session, [int(d["item_id"]) for d in active])
    by_item = {int(d["item_id"]): int(d["id"]) for d in active}
    actions = _actions_of(conn, list(rows))
    per_item: dict[int, list[RowMapping]] = defaultdict(list)
    for a in actions:
        per_item[int(a["item_id"])].append(a)
    cancel: dict[int, list[int]] = {}
    queued: list[dict[str, Any]] = []
    for item_id, decision_id in by_item.items():
        plan = plan_rows(per_item.get(item_id, []), decision_id=decision_id)
        cancel[item_id] = [int(a["id"]) for a in plan.cancel]
        for original in plan.reverse:
            reason = original["reason"]
            queued.append(
                outbox_row(
                    item_id=item_id,
                    decision_id=decision_id,
                    action=REVERSAL_OF[Action(original["action"])],
                    reason=f"Reversed on review: {reason}" if reason else "Reversed",
                    source=original["source"],
                    external_id=original["external_id"],
                    policy=original["policy"],
                    label=original["label"],
                    now=now,
                    reverses_id=int(original["id"]),
                )
            )
    _set_action_status(
        conn,
        [i for ids in cancel.values() for i in ids],
        status=ActionStatus.CANCELLED.value,
        error="cancelled: cluster decision reversed before sending",
        now=now,
    )
    reversal_ids: dict[int, list[int]] = defaultdict(list)
    for action_id, item_id in _insert_rows(conn, ACTION, _INSERT_ACTIONS, queued):
        reversal_ids[item_id].append(action_id)
    standing = _standing(rows, active)
    _set_decision_status(conn, list(by_item.values()), DecisionStatus.SUPERSEDED.value)
    queues = _back_to_pending(conn, rows, standing, now)
    events = []
    for item_id, decision_id in by_item.items():
        row = rows[item_id]
        back = item_id in queues
        events.append(
            AuditRecord(
                actor=actor,
                event="decision_reversed",
                at=now,
                item_id=item_id,
                before={
                    "status": row["status"],
                    "queue": row["queue"],
                    "label": row["final_label"],
                },
                after={"status": ItemStatus.PENDING.value, "queue": queues[item_id]}
                if back
                else None,
                detail={
                    "decision_id": decision_id,
                    "cancelled_actions": cancel.get(item_id, []),
                    "reversal_action_ids": reversal_ids.get(item_id, []),
                    "note": note,
                    **(event_detail or {}),
                },
            )
        )
    record_events(session, events)
    _forget(session, rows)
    return sorted(queues), sorted(i for ids in reversal_ids.values() for i in ids)
