"""The decision pipeline: the one module that changes an item and its decisions.

Every change to an item's decision state, to its `decision` rows and to the outbox goes
through a function here, in the caller's transaction, with its audit event:

- `decide`: a reviewer's label on a claimed item. A final label queues its action; an
  `escalate` label moves the item to the senior queue; a sampled primary decision goes to
  a blind second review; second reviews, senior decisions and appeal outcomes are routed
  by `settlement.settle`. `decide_held` does the same for an item an external tool (Label
  Studio) holds, on behalf of the annotator;
- `escalate`: move a claimed item to its senior queue with a note, without a label;
- `record_annotation` (a further label that decides nothing, kept for agreement),
  `supersede_decision` (a changed annotation replaces its decision, with its actions) and
  `return_held` (a skipped task goes back to the moderators);
- `reopen_for_appeal`: a decided item goes back to its senior queue as an appeal;
- `undo_decision` (a reviewer's own recent decision) and `reverse_decision` (undo on the
  platform what an item's takedowns did).

`outbox_row` is the one builder of outbox rows. `settlement.settle` and
`reversal.plan_reversals` only read (and lock): they return plans this module applies.
The common decision on PostgreSQL is one statement (`_pg_decide_statement`); it writes
the same rows as the statements SQLite runs (a test compares them).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import (
    CTE,
    Connection,
    Select,
    Table,
    bindparam,
    delete,
    func,
    insert,
    null,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm.util import identity_key
from sqlmodel import Session, col

from modqueue._exceptions import InvalidState, NotFound, PermissionDenied
from modqueue.guidelines import REVERSAL_OF, Action, Guideline, GuidelineSet, Label
from modqueue.queue._audit.chain import AuditRecord, record_event, record_events
from modqueue.queue._claims.leases import (
    ITEM,
    NO_CLAIM,
    Claim,
    _claim_from_row,
    clear_claim,
    lease_to,
    lock_claimed_item,
    record_claim_event,
    release_row,
    verify_claim,
)
from modqueue.queue._core.flood_models import FloodHit, FloodIncident, FloodRule
from modqueue.queue._core.models import (
    Decision,
    DecisionPublic,
    Item,
    OutboundAction,
    OutboundActionPublic,
)
from modqueue.queue._core.prepared import Prepared
from modqueue.queue._core.quality_config import QualityConfig
from modqueue.queue._core.quality_models import Appeal
from modqueue.queue._core.routing import (
    TRIAGE,
    is_second_review_queue,
    is_senior_queue,
    low_queue,
    policy_of_queue,
    senior_queue,
)
from modqueue.queue._core.types import ActionStatus, DecisionStatus, ItemStatus
from modqueue.queue._decisions.notices import (
    NOTIFY_ACK,
    NOTIFY_OUTCOME,
    NOTIFY_PREFIX,
    due_notices,
    notice_body,
    notice_key,
)
from modqueue.queue._decisions.reversal import plan_reversals
from modqueue.queue._decisions.settlement import (
    DecisionKind,
    PlannedAction,
    Settlement,
    decision_kind,
    open_appeal_for,
    sampled_for_second_review,
    settle,
    standing_decision,
)

__all__ = [
    "ERASED",
    "Annotation",
    "ItemPurge",
    "ModelBand",
    "decide",
    "decide_held",
    "escalate",
    "outbox_row",
    "purge_item_fields",
    "queue_notices",
    "record_annotation",
    "redact_decision_notes",
    "reopen_for_appeal",
    "return_held",
    "reverse_decision",
    "route_by_model",
    "supersede_decision",
    "undo_decision",
]

DECISION: Table = Decision.metadata.tables["decision"]
ACTION: Table = OutboundAction.metadata.tables["outbound_action"]

# Built once: `decide` is on the hot path and statement construction costs more than SQLite.
_LOCK_ITEM = (
    select(
        ITEM.c.status,
        ITEM.c.claim_token,
        ITEM.c.lease_expires_at,
        ITEM.c.policy,
        ITEM.c.queue,
        ITEM.c.source,
        ITEM.c.external_id,
        ITEM.c.deadline_at,
    )
    .where(ITEM.c.id == bindparam("b_item_id"))
    .with_for_update()
)
_LOCKED_COLUMNS = tuple(c.name for c in _LOCK_ITEM.selected_columns)
_LOCK = Prepared(_LOCK_ITEM)


def _insert_all(table: Table) -> Prepared:
    """INSERT of every column of `table` but its id, each bound by name; returns the id."""
    columns = {c.name: bindparam(c.name, type_=c.type) for c in table.c if c.name != "id"}
    return Prepared(insert(table).values(columns).returning(table.c.id))


_INSERT_DECISION = _insert_all(DECISION)
_INSERT_ACTION = _insert_all(ACTION)
_CLEARED: dict[str, Any] = {**NO_CLAIM, "updated_at": bindparam("b_now")}
_DECIDE_ITEM = (
    update(ITEM)
    .where(ITEM.c.id == bindparam("b_item_id"))
    .values(
        status=ItemStatus.DECIDED.value,
        decided_at=bindparam("b_now"),
        final_label=bindparam("b_label"),
        **_CLEARED,
    )
)


def _pg_decide_statement(*, with_action: bool) -> Select[Any]:
    """The common decision as one PostgreSQL statement: decision row, item update and
    (`with_action`) outbox row in data-modifying CTEs, returning the new ids. Saves two
    round trips on the hot path; SQLite, in-process, runs the three statements."""
    names = [c.name for c in DECISION.c if c.name != "id"]
    d = (
        insert(DECISION)
        .values({n: bindparam(f"d_{n}", type_=DECISION.c[n].type) for n in names})
        .returning(DECISION.c.id)
        .cte("d")
    )
    u = _DECIDE_ITEM.returning(ITEM.c.id).cte("u")
    if not with_action:
        return select(d.c.id).select_from(d.join(u, true()))
    names = [c.name for c in ACTION.c if c.name not in ("id", "decision_id")]
    a: CTE = (
        insert(ACTION)
        .from_select(
            [*names, "decision_id"],
            select(*[bindparam(f"a_{n}", type_=ACTION.c[n].type) for n in names], d.c.id),
        )
        .returning(ACTION.c.id)
        .cte("a")
    )
    return select(d.c.id, a.c.id).select_from(d.join(u, true()).join(a, true()))


_ESCALATE_ITEM = (
    update(ITEM)
    .where(ITEM.c.id == bindparam("b_item_id"))
    .values(status=ItemStatus.PENDING.value, queue=bindparam("b_queue"), escalated=True, **_CLEARED)
)
_PG_DECIDE = Prepared(_pg_decide_statement(with_action=False))
_PG_DECIDE_WITH_ACTION = Prepared(_pg_decide_statement(with_action=True))
_DECIDE = Prepared(_DECIDE_ITEM)
_ESCALATE = Prepared(_ESCALATE_ITEM)


def _returned_id(statement: Prepared, conn: Connection, params: dict[str, Any]) -> int:
    found = statement.first(conn, params)
    assert found is not None  # an INSERT ... RETURNING of one row
    return int(found[0])


@dataclass(frozen=True, slots=True)
class Annotation:
    """A label given outside the review screen (a Label Studio annotation): who gave it,
    the label and note, the seconds spent on it there, where it came from (`origin`) and
    its id there (`external_ref`)."""

    reviewer: str
    label: str
    note: str
    seconds_spent: float
    origin: str
    external_ref: str | None = None


# Whether the common decision on PostgreSQL is the one statement (a test turns it off to
# compare the rows with those of the statements).
ONE_STATEMENT = True


def outbox_row(
    *,
    item_id: int,
    decision_id: int | None,
    action: str,
    reason: str,
    source: str,
    external_id: str,
    policy: str | None,
    label: str,
    now: datetime,
    reverses_id: int | None = None,
) -> dict[str, Any]:
    """Every column of a new pending outbox row (but its id): `action` on the item
    `(source, external_id)`, with a fresh, stable idempotency key. The one builder of
    outbox rows."""
    return {
        "item_id": item_id,
        "decision_id": decision_id,
        "action": action,
        "source": source,
        "external_id": external_id,
        "policy": policy or TRIAGE,
        "label": label,
        "reason": reason,
        "idempotency_key": uuid.uuid4().hex,
        "status": ActionStatus.PENDING.value,
        "attempts": 0,
        "next_attempt_at": now,
        "last_error": None,
        "reply": None,
        "reference": None,
        "created_at": now,
        "updated_at": now,
        "reverses_id": reverses_id,
    }


def _queue_action(conn: Connection, row: dict[str, Any]) -> int:
    return _returned_id(_INSERT_ACTION, conn, row)


def _queue_planned(
    conn: Connection,
    item: Any,
    planned: list[PlannedAction],
    ids: tuple[int, int | None],
    label: Label,
    now: datetime,
) -> list[int]:
    """Queue `planned` on the item read as `item` for decision `ids = (item id, decision
    id)` with `label`; the new outbox rows' ids."""
    item_id, decision_id = ids
    return [
        _queue_action(
            conn,
            _planned_row(
                item, item_id=item_id, decision_id=decision_id, label=label.id, planned=p, now=now
            ),
        )
        for p in planned
    ]


def _planned_row(
    row: Any,
    *,
    item_id: int,
    decision_id: int | None,
    label: str,
    planned: PlannedAction,
    now: datetime,
) -> dict[str, Any]:
    """`outbox_row` for `planned` on the item read as `row` (a mapping or an `Item`)."""
    get = row.__getitem__ if hasattr(row, "__getitem__") else lambda k: getattr(row, k)
    return outbox_row(
        item_id=item_id,
        decision_id=decision_id,
        action=planned.action,
        reason=planned.reason,
        source=get("source"),
        external_id=get("external_id"),
        policy=get("policy"),
        label=label,
        now=now,
        reverses_id=planned.reverses_id,
    )


def _forget_item(session: Session, item_id: int) -> None:
    """The item row changed behind the ORM: a loaded `Item` reads it again when used."""
    loaded = session.identity_map.get(identity_key(Item, item_id))
    if loaded is not None:
        session.expire(loaded)


def _decide_in_one_statement(
    conn: Connection, *, values: dict[str, Any], row: Any, label: Label, now: datetime
) -> tuple[int, list[int]]:
    """The common decision on PostgreSQL (see `_pg_decide_statement`): decision id and
    the outbox row's id, if the label has an action."""
    # Every column gets a value: one the pipeline does not set (a cluster decision's id
    # on a plain decision) is NULL.
    params: dict[str, Any] = {f"d_{c.name}": None for c in DECISION.c if c.name != "id"}
    params |= {f"d_{k}": v for k, v in values.items()}
    params |= {"b_item_id": values["item_id"], "b_label": label.id, "b_now": now}
    if label.action == Action.NONE:
        return _returned_id(_PG_DECIDE, conn, params), []
    action = _planned_row(
        row,
        item_id=values["item_id"],
        decision_id=None,
        label=label.id,
        planned=PlannedAction(label.action.value, label.title),
        now=now,
    )
    params |= {f"a_{k}": v for k, v in action.items() if k != "decision_id"}
    found = _PG_DECIDE_WITH_ACTION.first(conn, params)
    assert found is not None  # the decision and its outbox row, both inserted
    decision_id, action_id = found
    return int(decision_id), [int(action_id)]


def _apply_settlement(
    session: Session,
    settlement: Settlement,
    claim: Claim,
    decision_id: int,
    row: Any,
    now: datetime,
) -> dict[str, Any]:
    """Write what `settle` planned for `claim`'s decision `decision_id` on the item read as
    `row`; returns the item's status and queue after it."""
    item_id, reviewer = claim.item_id, claim.reviewer
    changes = {k: getattr(v, "value", v) for k, v in settlement.item.items()}
    session.connection().execute(
        update(ITEM).where(ITEM.c.id == item_id).values(**changes, **NO_CLAIM, updated_at=now)
    )
    if settlement.appeal is not None:
        assert settlement.appeal_status is not None
        settlement.appeal.decided_by = reviewer
        settlement.appeal.outcome_decision_id = decision_id
        settlement.appeal.closed_at = now
        settlement.appeal.status = settlement.appeal_status
    if settlement.supersedes is not None:
        settlement.supersedes.status = DecisionStatus.SUPERSEDED
    for action in settlement.cancel:
        action.status = ActionStatus.CANCELLED
        action.updated_at = now
        action.last_error = settlement.cancel_reason
    session.flush()
    return {
        "status": changes.get("status", row["status"]),
        "queue": changes.get("queue", row["queue"]),
    }


def decide(
    session: Session,
    *,
    claim: Claim,
    label: str,
    note: str,
    guidelines: GuidelineSet,
    now: datetime,
    origin: str = "api",
    quality: QualityConfig | None = None,
    external_ref: str | None = None,
) -> DecisionPublic:
    """Decide a claimed item with one of its guideline's labels.

    Writes the decision (with guideline version and seconds spent), its audit event and,
    when the label's action is not `none`, a pending outbound action, all in the caller's
    transaction. A label whose action is `escalate` records the decision and moves the
    item to its policy's senior queue instead. `quality` decides which primary decisions
    go to a blind second review first; second reviews, disagreements and appeals are
    routed by `settlement.settle`. The action is only queued once the item's label is
    final. `external_ref` names the decision elsewhere (a Label Studio annotation id).
    """
    conn = session.connection()
    found = _LOCK.first(conn, {"b_item_id": claim.item_id})
    if found is None:
        raise NotFound(f"item {claim.item_id} does not exist")
    row = dict(zip(_LOCKED_COLUMNS, found, strict=True))
    verify_claim(
        claim=claim,
        status=row["status"],
        token=row["claim_token"],
        lease_expires_at=row["lease_expires_at"],
        now=now,
    )
    policy = row["policy"] or policy_of_queue(row["queue"])
    guideline = guidelines.get(policy)
    chosen = guideline.label(label)
    senior = is_senior_queue(row["queue"])
    kind = decision_kind(session, queue=row["queue"], item_id=claim.item_id)
    if chosen.action == Action.ESCALATE and senior:
        raise InvalidState(
            f"label {chosen.id!r} escalates, but item {claim.item_id} is already in the "
            f"senior queue; choose a final label"
        )
    values = {
        "item_id": claim.item_id,
        "reviewer": claim.reviewer,
        "label": chosen.id,
        "action": chosen.action.value,
        "note": note,
        "guideline_id": guideline.id,
        "guideline_version": guideline.version,
        "seconds_spent": round(max((now - claim.claimed_at).total_seconds(), 0.0), 3),
        "decided_at": now,
        "origin": origin,
        "kind": kind,
        "status": DecisionStatus.ACTIVE.value,
        "external_ref": external_ref,
        "cluster_decision_id": None,
        "after_deadline": now > row["deadline_at"],
    }
    planned: list[PlannedAction] = []
    route: dict[str, Any] = {}
    fast = kind == DecisionKind.PRIMARY and not sampled_for_second_review(
        row["source"], row["external_id"], (quality or QualityConfig()).share_for(policy)
    )
    action_ids: list[int] = []
    if (
        fast
        and chosen.action != Action.ESCALATE
        and ONE_STATEMENT
        and conn.dialect.name == "postgresql"
    ):
        after = {"status": ItemStatus.DECIDED.value, "queue": row["queue"]}
        decision_id, action_ids = _decide_in_one_statement(
            conn, values=values, row=row, label=chosen, now=now
        )
    else:
        decision_id = _returned_id(_INSERT_DECISION, conn, values)
        if chosen.action == Action.ESCALATE:
            after = {"status": ItemStatus.PENDING.value, "queue": senior_queue(policy)}
            _ESCALATE.execute(
                conn, {"b_item_id": claim.item_id, "b_queue": after["queue"], "b_now": now}
            )
        elif fast:
            after = {"status": ItemStatus.DECIDED.value, "queue": row["queue"]}
            _DECIDE.execute(conn, {"b_item_id": claim.item_id, "b_label": chosen.id, "b_now": now})
            if chosen.action != Action.NONE:
                planned.append(PlannedAction(chosen.action.value, chosen.title))
        else:
            # Second review, disagreement, senior or appeal: the rarer paths.
            settlement = settle(
                session,
                item_id=claim.item_id,
                source=row["source"],
                external_id=row["external_id"],
                kind=kind,
                reviewer=claim.reviewer,
                label=chosen,
                policy=policy,
                quality=quality or QualityConfig(),
                now=now,
            )
            after = _apply_settlement(session, settlement, claim, decision_id, row, now)
            planned = settlement.actions
            route = {**settlement.detail, "route": settlement.route}
        action_ids += _queue_planned(conn, row, planned, (claim.item_id, decision_id), chosen, now)
    _forget_item(session, claim.item_id)
    action_id = action_ids[0] if action_ids else None
    if route:
        route["outbound_action_ids"] = action_ids
    record_claim_event(
        session,
        claim,
        "decided" if chosen.action != Action.ESCALATE else "escalated",
        at=now,
        before={"status": row["status"], "queue": row["queue"]},
        after={**after, "label": chosen.id},
        detail={
            "decision_id": decision_id,
            "guideline_version": guideline.version,
            "action": chosen.action.value,
            "outbound_action_id": action_id,
            **route,
        },
    )
    return DecisionPublic.model_validate({**values, "id": decision_id})


def decide_held(
    session: Session,
    *,
    item_id: int,
    annotation: Annotation,
    guidelines: GuidelineSet,
    now: datetime,
    quality: QualityConfig | None = None,
) -> DecisionPublic:
    """`decide` an item an external tool holds (claimed under its name, see `hold_for`)
    with `annotation`, on behalf of its reviewer. A lease
    that ran out meanwhile is extended by a minute: the annotation arrived while the tool
    held the item."""
    item = session.scalars(select(Item).where(col(Item.id) == item_id).with_for_update()).one()
    if item.status != ItemStatus.CLAIMED or item.claim_token is None:
        raise InvalidState(f"item {item_id} is {item.status}, not held")
    if item.lease_expires_at is None or item.lease_expires_at <= now:
        item.lease_expires_at = now + timedelta(seconds=60)
        session.flush()
    claim = replace(
        _claim_from_row(item),
        reviewer=annotation.reviewer,
        claimed_at=now - timedelta(seconds=annotation.seconds_spent),
    )
    return decide(
        session,
        claim=claim,
        label=annotation.label,
        note=annotation.note,
        guidelines=guidelines,
        now=now,
        origin=annotation.origin,
        quality=quality,
        external_ref=annotation.external_ref,
    )


def escalate(session: Session, *, claim: Claim, note: str, now: datetime) -> str:
    """Move a claimed item to its policy's senior queue; returns that queue."""
    if not note.strip():
        raise InvalidState("an escalation needs a note saying why")
    row = lock_claimed_item(session, claim=claim, now=now)
    if is_senior_queue(row.queue):
        raise InvalidState(f"item {claim.item_id} is already in the senior queue {row.queue}")
    target = senior_queue(row.policy or policy_of_queue(row.queue))
    before = {"queue": row.queue, "status": "claimed"}
    row.queue = target
    row.status = ItemStatus.PENDING
    row.escalated = True
    clear_claim(row, now)
    session.flush()
    record_claim_event(
        session,
        claim,
        "escalated",
        at=now,
        before=before,
        after={"queue": target, "status": "pending"},
        detail={"note": note},
    )
    return target


def _new_decision(
    session: Session,
    *,
    item_id: int,
    annotation: Annotation,
    label: Label,
    guideline: Guideline,
    kind: str,
    deadline_at: datetime,
    now: datetime,
) -> Decision:
    """A new decision on item `item_id`, whose deadline is `deadline_at`."""
    decision = Decision(
        item_id=item_id,
        reviewer=annotation.reviewer,
        label=label.id,
        action=label.action.value,
        note=annotation.note,
        guideline_id=guideline.id,
        guideline_version=guideline.version,
        seconds_spent=annotation.seconds_spent,
        decided_at=now,
        origin=annotation.origin,
        kind=kind,
        external_ref=annotation.external_ref,
        after_deadline=now > deadline_at,
    )
    session.add(decision)
    session.flush()
    return decision


def _guideline_of(guidelines: GuidelineSet, item: Item) -> Guideline:
    return guidelines.get(item.policy or policy_of_queue(item.queue))


def record_annotation(
    session: Session,
    *,
    item_id: int,
    annotation: Annotation,
    guidelines: GuidelineSet,
    now: datetime,
) -> DecisionPublic:
    """Keep a label that does not decide the item (a further annotation: agreement needs
    it) as a `second_review` decision; the item is left as it is."""
    item = session.get_one(Item, item_id)
    guideline = _guideline_of(guidelines, item)
    chosen = guideline.label(annotation.label)
    decision = _new_decision(
        session,
        item_id=item_id,
        annotation=annotation,
        label=chosen,
        guideline=guideline,
        kind=DecisionKind.SECOND_REVIEW,
        deadline_at=item.deadline_at,
        now=now,
    )
    record_event(
        session,
        actor=annotation.reviewer,
        event="labelstudio_annotation",
        at=now,
        item_id=item_id,
        after={"label": chosen.id},
        detail={"decision_id": decision.id, "annotation_id": annotation.external_ref},
    )
    return DecisionPublic.model_validate(decision, from_attributes=True)


def supersede_decision(
    session: Session,
    *,
    decision_id: int,
    annotation: Annotation,
    guidelines: GuidelineSet,
    now: datetime,
) -> DecisionPublic:
    """A changed annotation: a new active decision replaces decision `decision_id`.

    For a deciding decision (not a second review) the old decision's actions are
    cancelled if never sent, or reversed; the item takes the new label (and its action),
    or goes to the senior queue for an `escalate` label. A claimed item keeps its claim.
    """
    old = session.get_one(Decision, decision_id)
    item = session.scalars(select(Item).where(col(Item.id) == old.item_id).with_for_update()).one()
    assert item.id is not None
    guideline = _guideline_of(guidelines, item)
    chosen = guideline.label(annotation.label)
    old.status = DecisionStatus.SUPERSEDED
    new = _new_decision(
        session,
        item_id=old.item_id,
        annotation=annotation,
        label=chosen,
        guideline=guideline,
        kind=old.kind,
        deadline_at=item.deadline_at,
        now=now,
    )
    deciding = old.kind != DecisionKind.SECOND_REVIEW
    cancelled: list[int | None] = []
    reversal_id = action_id = None
    before = {"status": item.status, "queue": item.queue, "label": item.final_label}
    conn = session.connection()
    if deciding:
        plan = plan_reversals(session, item_id=item.id, decision_id=old.id)
        for action in plan.cancel:
            action.status = ActionStatus.CANCELLED
            action.last_error = "cancelled: the annotation was changed in Label Studio"
            action.updated_at = now
            cancelled.append(action.id)
        reversals = [
            PlannedAction(
                REVERSAL_OF[Action(action.action)],
                f"reversal: annotation changed to {chosen.title}",
                reverses_id=action.id,
            )
            for action in plan.reverse
        ]
        queued = _queue_planned(conn, item, reversals, (item.id, new.id), chosen, now)
        reversal_id = queued[-1] if queued else None
        if chosen.action == Action.ESCALATE and not is_senior_queue(item.queue):
            item.queue = senior_queue(guideline.id)
            item.status = ItemStatus.PENDING
            item.escalated = True
            item.final_label = None
            item.decided_at = None
        elif chosen.action != Action.ESCALATE:
            if (
                item.status == ItemStatus.PENDING
                and is_senior_queue(item.queue)
                and (old.action == Action.ESCALATE.value)
            ):
                item.queue = policy_of_queue(item.queue)
                item.escalated = False
            if item.status != ItemStatus.CLAIMED:
                item.status = ItemStatus.DECIDED
                item.final_label = chosen.id
                item.decided_at = now
                if chosen.action != Action.NONE:
                    final = PlannedAction(chosen.action.value, chosen.title)
                    (action_id,) = _queue_planned(
                        conn, item, [final], (item.id, new.id), chosen, now
                    )
        item.updated_at = now
    session.flush()
    record_event(
        session,
        actor=annotation.reviewer,
        event="decision_superseded",
        at=now,
        item_id=item.id,
        before=before | {"decision_id": old.id, "decision_label": old.label},
        after={"status": item.status, "queue": item.queue, "label": chosen.id},
        detail={
            "decision_id": new.id,
            "annotation_id": annotation.external_ref,
            "cancelled_actions": cancelled,
            "reversal_action_id": reversal_id,
            "outbound_action_id": action_id,
        },
    )
    return DecisionPublic.model_validate(new, from_attributes=True)


def return_held(
    session: Session,
    *,
    item_id: int,
    holder: str,
    actor: str,
    detail: dict[str, Any],
    now: datetime,
) -> bool:
    """An item `holder` (an external tool) holds goes back to the moderators' queue (its
    annotator skipped it); False when `holder` does not hold it."""
    item = session.scalars(select(Item).where(col(Item.id) == item_id).with_for_update()).one()
    if item.status != ItemStatus.CLAIMED or item.claimed_by != holder:
        return False
    release_row(session, item, actor=actor, now=now, detail=detail)
    return True


def reopen_for_appeal(
    session: Session, *, item_id: int, note: str, actor: str, now: datetime
) -> Appeal:
    """Reopen decided item `item_id` in its policy's senior queue as an appeal by `actor`
    (already authorized). The item keeps its current label (and its action stays in
    force) until a senior decides the appeal. Raises `InvalidState` when the item is not
    decided, already under appeal, or `note` is empty."""
    if not note.strip():
        raise InvalidState("an appeal needs a note saying why")
    item = session.scalars(select(Item).where(col(Item.id) == item_id).with_for_update()).first()
    if item is None:
        raise NotFound(f"item {item_id} does not exist")
    if open_appeal_for(session, item_id) is not None:
        raise InvalidState(f"item {item_id} is already under appeal")
    if item.status != ItemStatus.DECIDED or item.final_label is None:
        raise InvalidState(f"item {item_id} is {item.status}, not decided: nothing to appeal")
    final = standing_decision(session, item_id, col(Decision.label) == item.final_label)
    if final is None or final.id is None:
        raise InvalidState(f"item {item_id} has no standing decision for {item.final_label!r}")
    appeal = Appeal(
        item_id=item_id,
        note=note,
        opened_by=actor,
        opened_at=now,
        appealed_decision_id=final.id,
        appealed_reviewer=final.reviewer,
        appealed_label=final.label,
    )
    session.add(appeal)
    before = {"status": item.status, "queue": item.queue}
    item.queue = senior_queue(item.policy or policy_of_queue(item.queue))
    item.status = ItemStatus.PENDING
    item.escalated = True
    item.updated_at = now
    session.flush()
    record_event(
        session,
        actor=actor,
        event="appealed",
        at=now,
        item_id=item_id,
        before=before,
        after={"status": item.status, "queue": item.queue},
        detail={"appeal_id": appeal.id, "decision_id": final.id, "note": note},
    )
    return appeal


def undo_decision(
    session: Session,
    *,
    decision_id: int,
    reviewer: str,
    grace_seconds: float,
    lease_seconds: int,
    now: datetime,
) -> Claim:
    """Undo a reviewer's own decision within the grace period, before its action is sent.

    The decision is marked undone, its pending action cancelled, and the item claimed
    again by the same reviewer so it can be decided anew. The audit event's `before` is
    the item as the decision left it (a second review's queue, the senior queue).
    """
    decision = session.scalars(
        select(Decision).where(col(Decision.id) == decision_id).with_for_update()
    ).one_or_none()
    if decision is None:
        raise NotFound(f"decision {decision_id} does not exist")
    if decision.reviewer != reviewer:
        raise PermissionDenied(f"decision {decision_id} was made by another reviewer")
    if decision.status != DecisionStatus.ACTIVE:
        raise InvalidState(f"decision {decision_id} is already {decision.status}")
    if (now - decision.decided_at).total_seconds() > grace_seconds:
        raise InvalidState(
            f"decision {decision_id} is older than the {grace_seconds:g}-second undo window"
        )
    actions = list(
        session.scalars(
            select(OutboundAction)
            .where(col(OutboundAction.decision_id) == decision_id)
            .with_for_update()
        )
    )
    if any(a.status != ActionStatus.PENDING or a.attempts > 0 for a in actions):
        raise InvalidState(
            f"decision {decision_id}'s action was already sent to the platform; "
            "ask a senior to reverse it on appeal"
        )
    item = session.scalars(
        select(Item).where(col(Item.id) == decision.item_id).with_for_update()
    ).one()
    before = {"status": item.status, "queue": item.queue, "label": item.final_label}
    if decision.action == Action.ESCALATE.value:
        if item.status != ItemStatus.PENDING or not is_senior_queue(item.queue):
            raise InvalidState(f"item {item.id} was already picked up from the senior queue")
        item.queue = policy_of_queue(item.queue)
        item.escalated = False
    elif is_second_review_queue(item.queue) and item.status == ItemStatus.PENDING:
        item.queue = policy_of_queue(item.queue)
    elif item.status != ItemStatus.DECIDED:
        raise InvalidState(f"item {item.id} is {item.status}, not decided")
    for action in actions:
        action.status = ActionStatus.CANCELLED
        action.updated_at = now
        action.last_error = "cancelled: decision undone"
    decision.status = DecisionStatus.UNDONE
    item.final_label = None
    item.decided_at = None
    lease_to(item, reviewer, lease_seconds, now)
    session.flush()
    record_event(
        session,
        actor=reviewer,
        event="undone",
        at=now,
        item_id=item.id,
        before=before,
        after={"status": "claimed", "queue": item.queue},
        detail={"decision_id": decision_id, "cancelled_actions": [a.id for a in actions]},
    )
    return _claim_from_row(item)


def reverse_decision(
    session: Session,
    *,
    item_id: int,
    reviewer: str,
    note: str,
    now: datetime,
    decision_id: int | None = None,
) -> list[OutboundActionPublic]:
    """Undo on the platform what the item's earlier takedown actions did.

    For each takedown action of item `item_id` (not itself a reversal, not yet reversed):

    - still `pending` and never attempted: it is cancelled (nothing reached the platform);
    - `pending` with attempts, `sent`, `done`, or `failed` after at least one attempt (it
      may have taken effect): the opposite action (`REVERSAL_OF`: restore,
      restore_and_unban, unrestrict, withdraw_referral) is queued as a new pending outbox
      row with its own idempotency key and `reverses_id` pointing at the original; the
      dispatcher sends it only once the original is no longer pending;
    - `declined`, `cancelled`, or failed without any attempt: nothing to undo.

    `decision_id` (optional) links the reversals to the decision that overturned the
    original (an appeal). `note` goes to the audit trail only, never to the platform.
    Calling it again queues nothing new. Returns the reversals queued; runs in the
    caller's transaction and appends one audit event per status change.
    """
    found = session.scalar(select(col(Item.id)).where(col(Item.id) == item_id))
    if found is None:
        raise NotFound(f"item {item_id} does not exist")
    plan = plan_reversals(session, item_id=item_id)
    events: list[AuditRecord] = []
    for original in plan.cancel:
        original.status = ActionStatus.CANCELLED
        original.last_error = "cancelled: decision reversed before sending"
        original.updated_at = now
        events.append(
            AuditRecord(
                actor=reviewer,
                event="action_cancelled",
                at=now,
                item_id=item_id,
                before={"status": ActionStatus.PENDING.value},
                after={"status": ActionStatus.CANCELLED.value},
                detail={"action_id": original.id, "reason": "reversed", "note": note},
            )
        )
    session.flush()
    conn = session.connection()
    queued: list[dict[str, Any]] = []
    for original in plan.reverse:
        row = outbox_row(
            item_id=item_id,
            decision_id=decision_id if decision_id is not None else original.decision_id,
            action=REVERSAL_OF[Action(original.action)],
            reason=f"Reversed on review: {original.reason}" if original.reason else "Reversed",
            source=original.source,
            external_id=original.external_id,
            policy=original.policy,
            label=original.label,
            now=now,
            reverses_id=original.id,
        )
        queued.append(row | {"id": _queue_action(conn, row)})
    for reversal in queued:
        events.append(
            AuditRecord(
                actor=reviewer,
                event="action_queued",
                at=now,
                item_id=item_id,
                before=None,
                after={"status": ActionStatus.PENDING.value, "action": reversal["action"]},
                detail={
                    "action_id": reversal["id"],
                    "reverses_id": reversal["reverses_id"],
                    "decision_id": reversal["decision_id"],
                    "note": note,
                },
            )
        )
    record_events(session, events)
    return [OutboundActionPublic.model_validate(r) for r in queued]


# -- routing by a model score (never a decision) -------------------------------------

ModelBand = Literal["suggest", "low"]


def route_by_model(
    session: Session,
    *,
    item_id: int,
    band: ModelBand,
    label: str,
    signal: str,
    score: float,
    now: datetime,
) -> bool:
    """Apply a model's band to a pending item still in its policy's own queue: record
    the suggestion (`suggest`), or also move it to the low-priority lane (`low`).
    Returns whether the item changed (claimed, decided, escalated or already routed
    items are left alone)."""
    item = session.get(Item, item_id, with_for_update=True)
    if item is None or item.status != ItemStatus.PENDING or item.policy is None:
        return False
    if item.queue != item.policy or item.suggestion is not None:
        return False
    suggestion: dict[str, Any] = {
        "label": label,
        "signal": signal,
        "score": round(score, 4),
        "band": band,
    }
    before: dict[str, Any] = {"queue": item.queue, "suggestion": None}
    item.suggestion = suggestion
    if band == "low":
        item.queue = low_queue(item.policy)
    item.updated_at = now
    record_event(
        session,
        actor=signal,
        event="model_routed",
        at=now,
        item_id=item_id,
        before=before,
        after={"queue": item.queue, "suggestion": suggestion},
    )
    return True


# -- personal data: retention and erasure ------------------------------------------------

ItemPurge = Literal["reporter", "content", "author"]
ERASED = "[erased]"


def purge_item_fields(
    session: Session, *, item_ids: list[int], what: set[ItemPurge], now: datetime
) -> None:
    """Remove personal data from items `item_ids` in one statement: `reporter` (the
    reporter's data), `content` (text, URL and media URLs; fingerprints and clusters
    stay) and `author` (author id and handle). The caller audits the purge."""
    if not item_ids or not what:
        return
    values: dict[str, Any] = {}
    if "reporter" in what:
        values |= {"reporter": null(), "reporter_purged_at": now}
    if "content" in what:
        values |= {"text": None, "url": None, "media": [], "content_purged_at": now}
    if "author" in what:
        values |= {"author_id": None, "author_handle": None}
    session.connection().execute(update(ITEM).where(ITEM.c.id.in_(item_ids)).values(**values))
    if "reporter" in what:
        # A reporter flood's hits are keyed by the reporter: personal data too.
        hits = FloodHit.metadata.tables["flood_hit"]
        session.connection().execute(
            delete(hits).where(hits.c.kind == "reporter", hits.c.item_id.in_(item_ids))
        )
    for item_id in item_ids:
        _forget_item(session, item_id)


def erase_reporter_keys(session: Session, *, needles: list[str]) -> None:
    """Replace a reporter's id or contact by `[erased]` where flood folding keyed an
    incident or a lead's mute on it (the incident and the rule stay, nameless)."""
    for table in (
        FloodIncident.metadata.tables["flood_incident"],
        FloodRule.metadata.tables["flood_rule"],
    ):
        if needles:
            session.connection().execute(
                update(table)
                .where(table.c.key.in_(needles), table.c.kind == "reporter")
                .values(key=ERASED)
            )


def redact_decision_notes(session: Session, *, item_ids: list[int], needles: list[str]) -> None:
    """Replace every occurrence of `needles` (a person's ids, handle or contact) in the
    notes of the decisions on items `item_ids` by `[erased]`."""
    note = DECISION.c.note
    replaced: Any = note
    for needle in needles:
        replaced = func.replace(replaced, needle, ERASED)
    if item_ids and needles:
        session.connection().execute(
            update(DECISION).where(DECISION.c.item_id.in_(item_ids)).values(note=replaced)
        )


# -- feedback to the notifier ----------------------------------------------------------


def queue_notices(
    session: Session, *, sources: Collection[str], now: datetime, limit: int = 500
) -> int:
    """Queue the acknowledgements and outcomes due to the notifiers of `sources`
    (`notices.due_notices`) as outbox rows on `notify:<source>`, one per notice and
    stage (an idempotency key derived from both; a row already there is kept). Returns
    how many were queued; audited as one `notices_queued` event."""
    rows = []
    for item, stage, payload in due_notices(session, sources=sources, limit=limit):
        assert item.id is not None
        row = outbox_row(
            item_id=item.id,
            decision_id=None,
            action=stage,
            reason=notice_body(item, stage, payload),
            source=NOTIFY_PREFIX + item.source,
            external_id=item.external_id,
            policy=item.policy,
            label=item.final_label or "",
            now=now,
        )
        row["idempotency_key"] = notice_key(item.source, item.external_id, stage)
        rows.append(row)
    if not rows:
        return 0
    factory = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    ids = session.execute(
        factory(ACTION)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(ACTION.c.id, ACTION.c.item_id, ACTION.c.action),
        rows,
    ).all()
    queued: dict[str, list[int]] = {NOTIFY_ACK: [], NOTIFY_OUTCOME: []}
    for _id, item_id, stage in ids:
        queued[stage].append(int(item_id))
    record_event(
        session,
        actor="notifier",
        event="notices_queued",
        at=now,
        detail={"ack": sorted(queued[NOTIFY_ACK]), "outcome": sorted(queued[NOTIFY_OUTCOME])},
    )
    return len(ids)
