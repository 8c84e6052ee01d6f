"""`modqueue quality`: agreement per policy and per reviewer pair, second reviews, gold
accuracy and appeals, read from the stored decisions.

Per-reviewer figures (reviewer pairs, gold accuracy per reviewer) are for leads and above;
any reviewer may read the aggregate report (`aggregate_only=True`)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import datetime
from itertools import combinations
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session, col

from modqueue.guidelines import Action
from modqueue.quality._agreement import Agreement
from modqueue.quality._gold import gold_accuracy
from modqueue.quality._guard import authorize_actor
from modqueue.queue import (
    SECOND_REVIEW_SUFFIX,
    TRIAGE,
    Appeal,
    Decision,
    DecisionKind,
    DecisionStatus,
    Item,
    ItemStatus,
    Permission,
)

__all__ = ["item_labels", "quality_report"]


def item_labels(session: Session, *, batch: int = 5000) -> Iterator[tuple[str, dict[str, str]]]:
    """Per item with any label, `(policy, {reviewer: label})`, streamed in item order.

    A reviewer's latest standing (not undone) label counts; escalations are not labels.
    """
    rows = session.execute(
        select(col(Decision.item_id), col(Item.policy), col(Decision.reviewer), col(Decision.label))
        .join(Item, col(Item.id) == col(Decision.item_id))
        .where(
            col(Decision.status) != DecisionStatus.UNDONE,
            col(Decision.action) != Action.ESCALATE.value,
        )
        .order_by(col(Decision.item_id), col(Decision.id))
        .execution_options(yield_per=batch)
    )
    current: int | None = None
    policy = TRIAGE
    labels: dict[str, str] = {}
    for item_id, item_policy, reviewer, label in rows:
        if item_id != current:
            if current is not None:
                yield policy, labels
            current, policy, labels = item_id, item_policy or TRIAGE, {}
        labels[reviewer] = label
    if current is not None:
        yield policy, labels


def _second_reviews(session: Session) -> dict[str, int]:
    kinds = session.execute(
        select(col(Decision.item_id), col(Decision.kind), col(Decision.label))
        .where(
            col(Decision.status) != DecisionStatus.UNDONE,
            col(Decision.action) != Action.ESCALATE.value,
            col(Decision.kind).in_([DecisionKind.PRIMARY, DecisionKind.SECOND_REVIEW]),
        )
        .order_by(col(Decision.item_id), col(Decision.id))
    )
    primary: dict[int, str] = {}
    agreed = disagreed = 0
    for item_id, kind, label in kinds:
        if kind == DecisionKind.PRIMARY:
            primary[item_id] = label
        elif item_id in primary:
            if primary.pop(item_id) == label:
                agreed += 1
            else:
                disagreed += 1
    waiting = session.scalar(
        select(func.count()).where(
            col(Item.queue).like(f"%{SECOND_REVIEW_SUFFIX}"),
            col(Item.status) != ItemStatus.DECIDED,
        )
    )
    return {"waiting": int(waiting or 0), "agreed": agreed, "disagreed": disagreed}


AGGREGATE_HINT = "ask for the aggregate only (`modqueue quality --aggregate-only`)"


def _authorize_report(
    session: Session, actor: str | None, aggregate_only: bool, now: datetime | None
) -> None:
    if aggregate_only:
        authorize_actor(
            session,
            actor=actor,
            permission=Permission.VIEW_QUALITY,
            doing="the quality report",
            now=now,
        )
        return
    authorize_actor(
        session,
        actor=actor,
        permission=Permission.VIEW_REVIEWER_FIGURES,
        doing="the quality report with per-reviewer figures",
        now=now,
        hint=AGGREGATE_HINT,
    )


def quality_report(
    session: Session,
    *,
    actor: str | None = None,
    aggregate_only: bool = False,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Agreement (alpha and pairwise) overall, per policy and per reviewer pair; second
    reviews waiting, agreed and disagreed; gold accuracy per reviewer; appeals by outcome.

    `scope` says which: `"full"` needs `actor` to be a lead or above once reviewers are
    registered; `aggregate_only=True` (scope `"aggregate"`) leaves out `pairs` and `gold`
    (no gold figure at all, so nobody learns which items are gold) and any registered
    reviewer may read it. Refusals raise `PermissionDenied` and are audited.
    """
    _authorize_report(session, actor, aggregate_only, now)
    overall = Agreement()
    by_policy: dict[str, Agreement] = defaultdict(Agreement)
    by_pair: dict[tuple[str, str], Agreement] = defaultdict(Agreement)
    for policy, labels in item_labels(session):
        values = list(labels.values())
        overall.add(values)
        by_policy[policy].add(values)
        for a, b in combinations(sorted(labels), 2):
            by_pair[(a, b)].add([labels[a], labels[b]])
    appeals: Counter[str] = Counter()
    for status, count in session.execute(
        select(col(Appeal.status), func.count()).group_by(col(Appeal.status))
    ).all():
        appeals[status] += count
    report: dict[str, Any] = {
        "scope": "aggregate" if aggregate_only else "full",
        "agreement": overall.to_dict(),
        "policies": {p: acc.to_dict() for p, acc in sorted(by_policy.items())},
        "second_review": _second_reviews(session),
        "appeals": {s: int(appeals.get(s, 0)) for s in ("open", "upheld", "overturned")},
    }
    if not aggregate_only:
        report["pairs"] = [
            {"reviewers": [a, b], **acc.to_dict()} for (a, b), acc in sorted(by_pair.items())
        ]
        report["gold"] = gold_accuracy(session)
    return report
