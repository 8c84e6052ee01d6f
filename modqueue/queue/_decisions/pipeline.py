"""Decisions: the label, its audit event and its outbound action, in one transaction."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import CTE, Connection, Select, Table, bindparam, insert, select, true, update
from sqlmodel import Session, col

from modqueue._exceptions import InvalidState, NotFound, PermissionDenied
from modqueue.guidelines import Action, GuidelineSet, Label
from modqueue.queue._audit.chain import record_event
from modqueue.queue._claims.leases import ITEM, Claim, _claim_from_row, verify_claim
from modqueue.queue._core.models import Decision, DecisionPublic, Item, OutboundAction
from modqueue.queue._core.quality_config import QualityConfig
from modqueue.queue._core.routing import (
    TRIAGE,
    is_second_review_queue,
    is_senior_queue,
    policy_of_queue,
    senior_queue,
)
from modqueue.queue._core.types import ActionStatus, DecisionStatus, ItemStatus
from modqueue.queue._decisions.settlement import (
    DecisionKind,
    PlannedAction,
    decision_kind,
    sampled_for_second_review,
    settle,
)

__all__ = ["decide", "new_outbound_action", "undo_decision"]

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
    )
    .where(ITEM.c.id == bindparam("b_item_id"))
    .with_for_update()
)
_INSERT_DECISION = insert(DECISION).returning(DECISION.c.id)
_INSERT_ACTION = insert(ACTION).returning(ACTION.c.id)
_CLEARED: dict[str, Any] = {
    "claimed_by": None,
    "claim_token": None,
    "claimed_at": None,
    "lease_expires_at": None,
    "updated_at": bindparam("b_now"),
}
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
_PG_DECIDE = _pg_decide_statement(with_action=False)
_PG_DECIDE_WITH_ACTION = _pg_decide_statement(with_action=True)


def new_outbound_action(
    *,
    item: Item,
    decision: Decision,
    action: str,
    reason: str,
    now: datetime,
    reverses_id: int | None = None,
) -> OutboundAction:
    """An outbox row for `action` on `item`, with a fresh, stable idempotency key."""
    assert item.id is not None
    return OutboundAction(
        item_id=item.id,
        decision_id=decision.id,
        action=action,
        source=item.source,
        external_id=item.external_id,
        policy=item.policy or TRIAGE,
        label=decision.label,
        reason=reason,
        idempotency_key=uuid.uuid4().hex,
        status=ActionStatus.PENDING,
        next_attempt_at=now,
        created_at=now,
        updated_at=now,
        reverses_id=reverses_id,
    )


def _action_values(
    *,
    row: Any,
    item_id: int,
    decision_id: int | None,
    label: str,
    action: PlannedAction,
    now: datetime,
) -> dict[str, Any]:
    """An outbox row's columns for `action` on the item read as `row`."""
    return {
        "item_id": item_id,
        "decision_id": decision_id,
        "action": action.action,
        "source": row["source"],
        "external_id": row["external_id"],
        "policy": row["policy"] or TRIAGE,
        "label": label,
        "reason": action.reason,
        "idempotency_key": uuid.uuid4().hex,
        "status": ActionStatus.PENDING.value,
        "attempts": 0,
        "next_attempt_at": now,
        "last_error": None,
        "reply": None,
        "reference": None,
        "created_at": now,
        "updated_at": now,
        "reverses_id": action.reverses_id,
    }


def _decide_in_one_statement(
    conn: Connection, *, values: dict[str, Any], row: Any, label: Label, now: datetime
) -> tuple[int, list[int]]:
    """The common decision on PostgreSQL (see `_pg_decide_statement`): decision id and
    the outbox row's id, if the label has an action."""
    params: dict[str, Any] = {f"d_{k}": v for k, v in values.items()}
    params |= {"b_item_id": values["item_id"], "b_label": label.id, "b_now": now}
    if label.action == Action.NONE:
        return int(conn.execute(_PG_DECIDE, params).scalar_one()), []
    planned = PlannedAction(label.action.value, label.title)
    action = _action_values(
        row=row,
        item_id=values["item_id"],
        decision_id=None,
        label=label.id,
        action=planned,
        now=now,
    )
    params |= {f"a_{k}": v for k, v in action.items() if k != "decision_id"}
    decision_id, action_id = conn.execute(_PG_DECIDE_WITH_ACTION, params).one()
    return int(decision_id), [int(action_id)]


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
) -> DecisionPublic:
    """Decide a claimed item with one of its guideline's labels.

    Writes the decision (with guideline version and seconds spent), its audit event and,
    when the label's action is not `none`, a pending outbound action, all in the caller's
    transaction. A label whose action is `escalate` records the decision and moves the
    item to its policy's senior queue instead. `quality` decides which primary decisions
    go to a blind second review first; second reviews, disagreements and appeals are
    settled by `modqueue.queue._decisions.settlement.settle`. The action is only queued once the
    item's label is final.
    """
    conn = session.connection()
    row = conn.execute(_LOCK_ITEM, {"b_item_id": claim.item_id}).mappings().one_or_none()
    if row is None:
        raise NotFound(f"item {claim.item_id} does not exist")
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
        "external_ref": None,
    }
    planned: list[PlannedAction] = []
    route: dict[str, Any] = {}
    fast = kind == DecisionKind.PRIMARY and not sampled_for_second_review(
        row["source"], row["external_id"], (quality or QualityConfig()).share_for(policy)
    )
    action_ids: list[int] = []
    if fast and chosen.action != Action.ESCALATE and conn.dialect.name == "postgresql":
        after = {"status": ItemStatus.DECIDED.value, "queue": row["queue"]}
        decision_id, action_ids = _decide_in_one_statement(
            conn, values=values, row=row, label=chosen, now=now
        )
    else:
        decision_id = conn.execute(_INSERT_DECISION, values).scalar_one()
        if chosen.action == Action.ESCALATE:
            after = {"status": ItemStatus.PENDING.value, "queue": senior_queue(policy)}
            conn.execute(
                _ESCALATE_ITEM,
                {"b_item_id": claim.item_id, "b_queue": after["queue"], "b_now": now},
            )
        elif fast:
            after = {"status": ItemStatus.DECIDED.value, "queue": row["queue"]}
            conn.execute(
                _DECIDE_ITEM, {"b_item_id": claim.item_id, "b_label": chosen.id, "b_now": now}
            )
            if chosen.action != Action.NONE:
                planned.append(PlannedAction(chosen.action.value, chosen.title))
        else:
            # Second review, disagreement, senior or appeal: the rarer paths, on the ORM.
            item = session.get_one(Item, claim.item_id)
            decision = session.get_one(Decision, decision_id)
            settlement = settle(
                session,
                item=item,
                decision=decision,
                label=chosen,
                policy=policy,
                quality=quality or QualityConfig(),
                now=now,
            )
            item.claimed_by = item.claim_token = None
            item.claimed_at = item.lease_expires_at = None
            item.updated_at = now
            session.flush()
            after = {"status": item.status, "queue": item.queue}
            planned = settlement.actions
            route = {**settlement.detail, "route": settlement.route}
        for action in planned:
            action_ids.append(
                conn.execute(
                    _INSERT_ACTION,
                    _action_values(
                        row=row,
                        item_id=claim.item_id,
                        decision_id=decision_id,
                        label=chosen.id,
                        action=action,
                        now=now,
                    ),
                ).scalar_one()
            )
    action_id = action_ids[0] if action_ids else None
    if route:
        route["outbound_action_ids"] = action_ids
    record_event(
        session,
        actor=claim.reviewer,
        event="decided" if chosen.action != Action.ESCALATE else "escalated",
        at=now,
        item_id=claim.item_id,
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
    again by the same reviewer so it can be decided anew.
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
    if decision.action == Action.ESCALATE.value:
        if item.status != ItemStatus.PENDING or not is_senior_queue(item.queue):
            raise InvalidState(f"item {item.id} was already picked up from the senior queue")
    elif is_second_review_queue(item.queue) and item.status == ItemStatus.PENDING:
        item.queue = policy_of_queue(item.queue)
    elif item.status != ItemStatus.DECIDED:
        raise InvalidState(f"item {item.id} is {item.status}, not decided")
    for action in actions:
        action.status = ActionStatus.CANCELLED
        action.updated_at = now
        action.last_error = "cancelled: decision undone"
    decision.status = DecisionStatus.UNDONE
    before = {"status": item.status, "queue": item.queue, "label": item.final_label}
    if decision.action == Action.ESCALATE.value:
        item.queue = policy_of_queue(item.queue)
        item.escalated = False
    item.status = ItemStatus.CLAIMED
    item.final_label = None
    item.decided_at = None
    item.claimed_by = reviewer
    item.claim_token = uuid.uuid4().hex
    item.claimed_at = now
    item.lease_expires_at = now + timedelta(seconds=lease_seconds)
    item.updated_at = now
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
