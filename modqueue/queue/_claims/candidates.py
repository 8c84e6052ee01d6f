"""Which item a claim takes: the conditions of a claimable item and, on PostgreSQL, the
searches that find it without stepping over items one heap row at a time.

The plain search (`claimable` and `ORDER BY priority DESC, id LIMIT 1 FOR UPDATE SKIP
LOCKED`, in `_claims.leases`) reads `ix_item_pending_claimable` from its first entry:
one row when the first item qualifies. A reviewer held back from the graphic policies
(`ClaimHold`) is where it did not: every graphic item on top of the order was read and
stepped over (at 10,000,000 items, 600 to 1,300 rows and as many buffers a claim, more
with every item decided under them). `held_claim_candidate` finds that reviewer's item
in a few index probes (`first_allowed`), and otherwise walks the order inside the index
(`walked_candidate`); both lock only the item they take.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    ColumnElement,
    Table,
    bindparam,
    case,
    exists,
    func,
    literal_column,
    not_,
    null,
    select,
    true,
    union_all,
)
from sqlalchemy.sql.elements import ColumnClause
from sqlalchemy.sql.selectable import FromClause, Select

from modqueue.queue._claims.exposure import ClaimHold
from modqueue.queue._core.models import Decision, Item
from modqueue.queue._core.routing import SENIOR_SUFFIX
from modqueue.queue._core.types import DecisionStatus

__all__ = [
    "ITEM",
    "ONE",
    "claimable",
    "decided_by",
    "first_allowed",
    "held_claim_candidate",
    "walked_candidate",
]

ITEM: Table = Item.metadata.tables["item"]
DECISION: Table = Decision.metadata.tables["decision"]

ONE: ColumnClause[int] = literal_column("1")
"""The claim's `LIMIT`, written out: a bound limit leaves PostgreSQL's generic plan of
the prepared claim costed as if a tenth of the pending items were read (its default
for an unknown limit), so every execution was planned anew (a custom plan, about half
a millisecond at 10,000,000 items)."""


def decided_by(reviewer: Any, *, per_row: bool = False, item: FromClause = ITEM) -> Any:
    """Items on which `reviewer` already has a standing decision: a second review, a
    disagreement or an appeal must go to someone else.

    `per_row` (the PostgreSQL claim): checked item by item as the claim walks its index
    (one probe of `ix_decision_item_id` each), never turned into a join: for a reviewer
    with few decisions PostgreSQL's planner otherwise reads the whole `decision` table
    first (a sequential scan, materialized: 67-100 ms at 60,000 decisions). `OFFSET 0`
    keeps the planner from pulling the subquery up into an anti-join. `item`: the
    table (or alias) whose rows are checked."""
    conditions = (
        DECISION.c.item_id == item.c.id,
        DECISION.c.reviewer == reviewer,
        DECISION.c.status == DecisionStatus.ACTIVE.value,
    )
    if per_row:
        return (
            select(literal_column("1"))
            .select_from(DECISION)
            .where(*conditions)
            .offset(literal_column("0"))
            .exists()
        )
    return exists().where(*conditions)


def claimable(item: FromClause, queues: int, *, per_row: bool) -> list[Any]:
    """The conditions of an item of `item` the claim may take, but the exposure hold:
    pending, in one of the `queues` bound (`q_0`, ...; 0: any queue but the senior
    ones), not decided by the reviewer."""
    queue_filter = (
        item.c.queue.in_([bindparam(f"q_{i}") for i in range(queues)])
        if queues
        # Literal, as `ix_item_pending_claimable`'s condition: the claim reads that index
        # from its first entry and never steps over senior-queue items.
        else item.c.queue.not_like(literal_column(f"'%{SENIOR_SUFFIX}'"))
    )
    return [
        # A literal, not a bound parameter: only then can the planners use the
        # partial indexes on pending rows (SQLite never does with a parameter).
        item.c.status == literal_column("'pending'"),
        queue_filter,
        not_(decided_by(bindparam("reviewer"), per_row=per_row, item=item)),
    ]


def _locked(candidate: ColumnElement[int] | Any, name: str) -> Any:
    """`candidate`'s item locked (`FOR UPDATE SKIP LOCKED`), if it is still pending
    outside the senior queues once locked: its id, else nothing (another claimer holds
    it, or it was claimed or moved since the statement began)."""
    taken = ITEM.alias(name)
    return (
        select(taken.c.id)
        .where(taken.c.id == candidate, *claimable(taken, 0, per_row=True)[:2])
        .with_for_update(skip_locked=True)
    )


def walked_candidate(graphic: int) -> Select[tuple[int]]:
    """PostgreSQL, every queue but the senior ones, under an exposure hold: the item to
    claim, found by walking `ix_item_pending_claimable` (which carries each item's
    policy) as an index-only scan, locking the first item that qualifies.

    The walk takes no locks; each item it yields is locked (`_locked`, in a `LATERAL`
    probe of the primary key) and taken if still pending outside the senior queues,
    else the walk goes on, in the same order: what the plain claim does (the same items
    in the same order, skipping locked ones), with only the item taken ever locked, and
    each item stepped over read from the index (and the heap only where its page is not
    all-visible)."""
    walked = ITEM.alias("walked")
    locked = _locked(walked.c.id, "taken").lateral("locked")
    return (
        select(locked.c.id)
        .select_from(walked.join(locked, true()))
        .where(*claimable(walked, 0, per_row=True), ClaimHold.condition(walked.c.policy, graphic))
        .order_by(walked.c.priority.desc(), walked.c.id)
        .limit(ONE)
    )


def first_allowed(graphic: int) -> Select[tuple[int]]:
    """PostgreSQL, a reviewer held back: the first item in claim order that they may take
    (pending outside the senior queues, not decided by them, of no graphic policy), not
    locked, found in `ix_item_pending_claimable_policy` (`policy, priority DESC, id`):
    the distinct policies one probe each (a recursive skip over the index), the first
    item of each allowed one and of the items without a policy, the best of those."""
    step = ITEM.alias("policy_step")
    pending = claimable(step, 0, per_row=True)[:2]
    policies = (
        select(func.min(step.c.policy).label("policy"))
        .where(*pending)
        .cte("claim_policies", recursive=True)
    )
    following = ITEM.alias("policy_next")
    after = (
        select(func.min(following.c.policy))
        .where(*claimable(following, 0, per_row=True)[:2], following.c.policy > policies.c.policy)
        .scalar_subquery()
    )
    policies = policies.union_all(
        select(after.label("policy")).where(policies.c.policy.is_not(None))
    )
    first = ITEM.alias("policy_first")
    first_of_policy = (
        select(first.c.id, first.c.priority)
        .where(first.c.policy == policies.c.policy, *claimable(first, 0, per_row=True))
        .order_by(first.c.priority.desc(), first.c.id)
        .limit(ONE)
        .lateral("first_of_policy")
    )
    untagged = ITEM.alias("policy_none")
    candidates = union_all(
        select(first_of_policy.c.id, first_of_policy.c.priority)
        .select_from(policies.join(first_of_policy, true()))
        .where(policies.c.policy.is_not(None), ClaimHold.allowed(policies.c.policy, graphic)),
        select(untagged.c.id, untagged.c.priority)
        .where(untagged.c.policy.is_(None), *claimable(untagged, 0, per_row=True))
        .order_by(untagged.c.priority.desc(), untagged.c.id)
        .limit(ONE),
    ).subquery("allowed_firsts")
    return (
        select(candidates.c.id).order_by(candidates.c.priority.desc(), candidates.c.id).limit(ONE)
    )


def held_claim_candidate(graphic: int) -> ColumnElement[int]:
    """PostgreSQL, every queue but the senior ones, with an exposure hold: the id of the
    item to claim, locked (NULL: none).

    A reviewer who is held back gets `first_allowed`, locked, if it can be locked: the
    first item they may take, which the plain claim would take too; none when there is
    no such item (the walk would find none either: same conditions, same snapshot).
    When it cannot be locked (a concurrent claimer holds it, or took it since the
    statement began), or the reviewer is not held back, `walked_candidate` decides, as
    the plain claim would. The walk runs only then: PostgreSQL evaluates each of these
    subqueries when first needed."""
    first = first_allowed(graphic).scalar_subquery()
    fast = _locked(first, "taken_first").scalar_subquery()
    walk = walked_candidate(graphic).scalar_subquery()
    held_pick = func.coalesce(fast, case((first.is_(None), null()), else_=walk))
    return case((ClaimHold.held(), held_pick), else_=walk)
