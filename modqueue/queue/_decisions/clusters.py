"""Cluster decisions: one human decision for every copy in a cluster.

Part of the decision pipeline (with `pipeline.py` and `bulk.py`): every write here goes
through `bulk.decide_items`, `bulk.undo_items` and `bulk.reverse_items`, plus the
cluster's own rows (`content_cluster`, `cluster_decision`) and, for `split_from_cluster`
and late copies, the item's `cluster_id` and `suggestion`.

- `preview_cluster_decision`: what a decision would do ("apply 'remove' to 37 items;
  2 excluded"), read-only.
- `decide_cluster`: the decision. Each member open to it gets its own decision row
  (`cluster_decision_id` set), outbound action and audit event, set-based. Members that
  are claimed, already decided, in second review or under appeal are left alone (the
  preview lists them); `exclude` leaves out members the reviewer judged different.
- Second review: a cluster decision is one judgement, so it is sampled once, not per
  member: it falls in the policy's second-review share exactly when its representative
  (the copy the reviewer saw first; if excluded or not open, the first open member) would
  as a single decision. When sampled, that one member goes to the blind second review
  (its action waits for it, as for a single decision); the other members are final at
  once. A second reviewer's disagreement sends that member to the senior queue, where a
  senior can `reverse_cluster_decision`.
- `undo_cluster_decision`: within the undo grace period and before any action was sent,
  by the reviewer who made it; members go back to pending.
- `reverse_cluster_decision`: afterwards (a senior): unsent actions are cancelled, the
  opposite of those that may have taken effect queued; members go back to pending.
- `split_from_cluster`: a member leaves its cluster, to be decided alone.
- `apply_cluster_standing`: late copies of a cluster decided with a takedown follow the
  guideline's `propagate` setting (`suggest`, `auto`, `off`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, cast

from sqlalchemy import Table, select, update
from sqlmodel import Session, col

from modqueue._exceptions import InvalidState, NotFound, PermissionDenied
from modqueue.guidelines import Action, Guideline, GuidelineSet
from modqueue.queue._audit.chain import AuditRecord, record_event, record_events
from modqueue.queue._claims.leases import ITEM
from modqueue.queue._core.cluster_models import (
    ClusterDecision,
    ClusterDecisionPublic,
    ClusterStatus,
    ContentCluster,
)
from modqueue.queue._core.models import Decision
from modqueue.queue._core.quality_config import QualityConfig
from modqueue.queue._core.routing import is_low_queue, policy_of_queue
from modqueue.queue._core.types import DecisionStatus, ItemStatus
from modqueue.queue._decisions.bulk import (
    Skipped,
    chunks,
    decide_items,
    lock_items,
    reverse_items,
    undo_items,
)
from modqueue.queue._decisions.settlement import sampled_for_second_review
from modqueue.queue._items.ingest import LATE_COPIES

__all__ = [
    "PROPAGATED",
    "ClusterPreview",
    "Propagation",
    "StandingOutcome",
    "apply_cluster_standing",
    "decide_cluster",
    "preview_cluster_decision",
    "propagation_of",
    "reverse_cluster_decision",
    "split_from_cluster",
    "undo_cluster_decision",
]

PROPAGATED = "propagated"
"""The origin of a decision a cluster's standing decision made on a late copy."""
REVERSED = "reversed"
"""A cluster decision's status once reversed."""
Propagation = Literal["suggest", "auto", "off"]
_PROPAGATIONS = ("suggest", "auto", "off")
DECISION: Table = Decision.metadata.tables["decision"]


@dataclass(frozen=True, slots=True)
class ClusterPreview:
    """What deciding cluster `cluster_id` with `label` would do: its action, the members
    it would apply to, those excluded, those already decided and the others it leaves
    alone (claimed, in second review, under appeal), with why."""

    cluster_id: int
    label: str
    action: str
    applied: list[int]
    excluded: list[int]
    already_decided: list[int]
    skipped: list[Skipped] = field(default_factory=list)

    @property
    def summary(self) -> str:
        """`apply 'remove' to 37 items; 2 excluded` (and what else is left alone)."""
        n = len(self.applied)
        text = f"apply {self.action!r} to {n} item{'' if n == 1 else 's'}"
        parts = [f"{len(self.excluded)} excluded"] if self.excluded else []
        if self.already_decided:
            parts.append(f"{len(self.already_decided)} already decided")
        if self.skipped:
            parts.append(f"{len(self.skipped)} left alone ({self.skipped[0].reason}, ...)")
        return "; ".join([text, *parts])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "cluster_id": self.cluster_id,
            "label": self.label,
            "action": self.action,
            "applied": self.applied,
            "excluded": self.excluded,
            "already_decided": self.already_decided,
            "skipped": [{"item_id": s.item_id, "reason": s.reason} for s in self.skipped],
            "summary": self.summary,
        }


@dataclass(frozen=True, slots=True)
class StandingOutcome:
    """What `apply_cluster_standing` did with late copies: the propagation used, items
    decided (`auto`), items queued with the suggested label (`suggest`, and `auto`'s
    human-review share) and items left as they were."""

    propagate: str
    decided: list[int] = field(default_factory=list)
    suggested: list[int] = field(default_factory=list)
    untouched: list[int] = field(default_factory=list)
    cluster_decision_id: int | None = None


def _cluster(session: Session, cluster_id: int, *, lock: bool = False) -> ContentCluster:
    query = select(ContentCluster).where(col(ContentCluster.id) == cluster_id)
    if lock:
        query = query.with_for_update()
    found = session.scalars(query).one_or_none()
    if found is None:
        raise NotFound(f"cluster {cluster_id} does not exist")
    return found


def _members(session: Session, cluster_id: int) -> list[int]:
    return [
        int(v)
        for v in session.connection()
        .execute(select(ITEM.c.id).where(ITEM.c.cluster_id == cluster_id).order_by(ITEM.c.id))
        .scalars()
    ]


def _guideline(guidelines: GuidelineSet, cluster: ContentCluster) -> Guideline:
    return guidelines.get(cluster.policy or policy_of_queue(cluster.queue))


def _check_excluded(cluster_id: int, members: Sequence[int], exclude: Iterable[int]) -> list[int]:
    excluded = sorted(set(exclude))
    strangers = [i for i in excluded if i not in set(members)]
    if strangers:
        raise InvalidState(
            f"cluster {cluster_id}: item {strangers[0]} is not a member "
            f"(members: {len(members)}); --exclude takes member item ids"
        )
    return excluded


def preview_cluster_decision(
    session: Session,
    *,
    cluster_id: int,
    label: str,
    guidelines: GuidelineSet,
    exclude: Iterable[int] = (),
    reviewer: str = "",
) -> ClusterPreview:
    """What `decide_cluster` would do now, without writing anything (`UnknownLabel` for
    a label the cluster's guideline lacks, `InvalidState` for an excluded non-member)."""
    cluster = _cluster(session, cluster_id)
    chosen = _guideline(guidelines, cluster).label(label)
    members = _members(session, cluster_id)
    excluded = _check_excluded(cluster_id, members, exclude)
    rows = (
        session.connection()
        .execute(
            select(ITEM.c.id, ITEM.c.status, ITEM.c.queue, ITEM.c.claimed_by, ITEM.c.final_label)
            .where(ITEM.c.cluster_id == cluster_id)
            .order_by(ITEM.c.id)
        )
        .mappings()
    )
    applied, decided, skipped = [], [], []
    for row in rows:
        item_id = int(row["id"])
        if item_id in excluded:
            continue
        if row["status"] == ItemStatus.DECIDED:
            decided.append(item_id)
        elif row["status"] == ItemStatus.CLAIMED:
            who = row["claimed_by"]
            skipped.append(
                Skipped(item_id, "claimed by you" if who == reviewer else f"claimed by {who}")
            )
        elif row["queue"].endswith(":second"):
            skipped.append(Skipped(item_id, "in second review"))
        else:
            applied.append(item_id)
    return ClusterPreview(
        cluster_id, chosen.id, chosen.action.value, applied, excluded, decided, skipped
    )


def _sample(
    session: Session, cluster: ContentCluster, open_ids: list[int], share: float
) -> list[int]:
    """The one member that goes to a blind second review when this cluster decision falls
    in the share: the representative if it is open to the decision, else the first open
    member (see the module docstring)."""
    if not open_ids or share <= 0.0:
        return []
    rep = cluster.representative_item_id
    chosen = rep if rep in set(open_ids) else open_ids[0]
    row = (
        session.connection()
        .execute(select(ITEM.c.source, ITEM.c.external_id).where(ITEM.c.id == chosen))
        .one()
    )
    return [chosen] if sampled_for_second_review(row.source, row.external_id, share) else []


def decide_cluster(
    session: Session,
    *,
    cluster_id: int,
    reviewer: str,
    label: str,
    guidelines: GuidelineSet,
    now: datetime,
    exclude: Iterable[int] = (),
    note: str = "",
    origin: str = "cluster",
    quality: QualityConfig | None = None,
) -> ClusterDecisionPublic:
    """Decide every open member of cluster `cluster_id` with `label` but `exclude`.

    Writes the `cluster_decision` row, then (`bulk.decide_items`) each member's own
    decision, outbound action and audit event in batched statements, a
    `cluster_decided` audit event, and marks the cluster `decided`. One member may go to
    a blind second review (see the module docstring). Raises `NotFound` (no such
    cluster), `UnknownLabel`, `InvalidState` (an excluded item is no member, an
    escalating label, or no member is open to a decision). The caller authorizes.
    """
    cluster = _cluster(session, cluster_id, lock=True)
    guideline = _guideline(guidelines, cluster)
    chosen = guideline.label(label)
    if chosen.action == Action.ESCALATE:
        raise InvalidState(
            f"cluster {cluster_id}: label {chosen.id!r} escalates; a cluster decision "
            "must be final (escalate the representative alone, or split it out)"
        )
    members = _members(session, cluster_id)
    excluded = _check_excluded(cluster_id, members, exclude)
    wanted = [i for i in members if i not in set(excluded)]
    rows = lock_items(session, wanted)
    open_ids = [
        i
        for i in wanted
        # A folded member (held in a flood incident) is as open to the decision as a
        # pending one: the cluster decision is what a fingerprint flood waits for.
        if rows[i]["status"] in (ItemStatus.PENDING, ItemStatus.FOLDED)
        and not rows[i]["queue"].endswith(":second")
    ]
    if not open_ids:
        raise InvalidState(
            f"cluster {cluster_id}: no member is open to a decision "
            f"({len(members)} members, {len(excluded)} excluded; the others are decided, "
            "claimed or in review)"
        )
    share = (quality or QualityConfig()).share_for(guideline.id)
    record = ClusterDecision(
        cluster_id=cluster_id,
        reviewer=reviewer,
        label=chosen.id,
        action=chosen.action.value,
        guideline_id=guideline.id,
        guideline_version=guideline.version,
        decided_at=now,
        origin=origin,
        status=DecisionStatus.ACTIVE.value,
        excluded=excluded,
    )
    session.add(record)
    session.flush()
    assert record.id is not None
    outcome = decide_items(
        session,
        item_ids=wanted,
        reviewer=reviewer,
        label=chosen.id,
        guidelines=guidelines,
        now=now,
        origin=origin,
        note=note,
        cluster_decision_id=record.id,
        second_review=_sample(session, cluster, open_ids, share),
        event_detail={"cluster_id": cluster_id},
        locked=rows,
    )
    record.member_count = len(outcome.decision_ids)
    record.detail = {
        "second_review": outcome.second_review,
        "skipped": [{"item_id": s.item_id, "reason": s.reason} for s in outcome.skipped],
        "note": note,
    }
    cluster.status = ClusterStatus.DECIDED
    cluster.updated_at = now
    session.flush()
    record_event(
        session,
        actor=reviewer,
        event="cluster_decided",
        at=now,
        item_id=cluster.representative_item_id,
        after={"status": ClusterStatus.DECIDED, "label": chosen.id},
        detail={
            "cluster_id": cluster_id,
            "cluster_decision_id": record.id,
            "members": record.member_count,
            "excluded": excluded,
            "second_review": outcome.second_review,
            "skipped": len(outcome.skipped),
            "action": chosen.action.value,
        },
    )
    return ClusterDecisionPublic.model_validate(record, from_attributes=True)


def _cluster_decision(session: Session, cluster_decision_id: int) -> ClusterDecision:
    found = session.scalars(
        select(ClusterDecision)
        .where(col(ClusterDecision.id) == cluster_decision_id)
        .with_for_update()
    ).one_or_none()
    if found is None:
        raise NotFound(f"cluster decision {cluster_decision_id} does not exist")
    return found


def _member_decisions(session: Session, cluster_decision_id: int) -> list[int]:
    return [
        int(v)
        for v in session.connection()
        .execute(
            select(DECISION.c.id)
            .where(
                DECISION.c.cluster_decision_id == cluster_decision_id,
                DECISION.c.status == DecisionStatus.ACTIVE.value,
            )
            .order_by(DECISION.c.id)
        )
        .scalars()
    ]


def _reopen(session: Session, cluster_id: int, now: datetime) -> None:
    """The cluster is open again unless another of its decisions still stands."""
    cluster = _cluster(session, cluster_id, lock=True)
    standing = session.scalar(
        select(col(ClusterDecision.id)).where(
            col(ClusterDecision.cluster_id) == cluster_id,
            col(ClusterDecision.status) == DecisionStatus.ACTIVE.value,
        )
    )
    if standing is None:
        cluster.status = ClusterStatus.OPEN
    cluster.updated_at = now


def latest_cluster_decision(session: Session, cluster_id: int) -> ClusterDecision | None:
    """The cluster's newest standing (active) decision."""
    return session.scalars(
        select(ClusterDecision)
        .where(
            col(ClusterDecision.cluster_id) == cluster_id,
            col(ClusterDecision.status) == DecisionStatus.ACTIVE.value,
        )
        .order_by(col(ClusterDecision.id).desc())
        .limit(1)
    ).one_or_none()


def undo_cluster_decision(
    session: Session,
    *,
    cluster_decision_id: int,
    actor: str,
    grace_seconds: float,
    now: datetime,
) -> list[int]:
    """Undo cluster decision `cluster_decision_id` within `grace_seconds` (the undo grace
    period of single decisions), by the reviewer who made it, before any of its actions
    was sent: member decisions undone, their actions cancelled, members back to pending
    (`bulk.undo_items`), the cluster open again. Returns the members put back."""
    record = _cluster_decision(session, cluster_decision_id)
    where = f"cluster {record.cluster_id}: decision {cluster_decision_id}"
    if record.reviewer != actor:
        raise PermissionDenied(f"{where} was made by {record.reviewer}, not {actor}")
    if record.status != DecisionStatus.ACTIVE:
        raise InvalidState(f"{where} is already {record.status}")
    if (now - record.decided_at).total_seconds() > grace_seconds:
        raise InvalidState(
            f"{where} is older than the {grace_seconds:g}-second undo window; "
            "a senior can reverse it (`modqueue clusters reverse`)"
        )
    detail = {"cluster_id": record.cluster_id, "cluster_decision_id": record.id}
    try:
        back = undo_items(
            session,
            decision_ids=_member_decisions(session, cluster_decision_id),
            actor=actor,
            now=now,
            event_detail=detail,
        )
    except InvalidState as exc:
        raise InvalidState(f"{where}: {exc}") from exc
    record.status = DecisionStatus.UNDONE.value
    _reopen(session, record.cluster_id, now)
    session.flush()
    record_event(
        session,
        actor=actor,
        event="cluster_undone",
        at=now,
        before={"status": DecisionStatus.ACTIVE.value, "label": record.label},
        after={"status": DecisionStatus.UNDONE.value},
        detail={**detail, "members": len(back)},
    )
    return back


def reverse_cluster_decision(
    session: Session,
    *,
    cluster_decision_id: int,
    actor: str,
    note: str,
    now: datetime,
) -> tuple[list[int], list[int]]:
    """Reverse cluster decision `cluster_decision_id` after its undo window: for every
    member, unsent actions are cancelled and the opposite of those that may have taken
    effect queued (`bulk.reverse_items`, the rule of `plan_reversals`); member decisions
    are superseded and members go back to pending; the cluster is open again. Returns
    `(members put back, reversal outbox ids)`. `note` is required (audit only)."""
    if not note.strip():
        raise InvalidState("a reversal needs a note saying why")
    record = _cluster_decision(session, cluster_decision_id)
    where = f"cluster {record.cluster_id}: decision {cluster_decision_id}"
    if record.status != DecisionStatus.ACTIVE:
        raise InvalidState(f"{where} is already {record.status}")
    detail = {"cluster_id": record.cluster_id, "cluster_decision_id": record.id}
    back, reversals = reverse_items(
        session,
        decision_ids=_member_decisions(session, cluster_decision_id),
        actor=actor,
        note=note,
        now=now,
        event_detail=detail,
    )
    record.status = REVERSED
    _reopen(session, record.cluster_id, now)
    session.flush()
    record_event(
        session,
        actor=actor,
        event="cluster_reversed",
        at=now,
        before={"status": DecisionStatus.ACTIVE.value, "label": record.label},
        after={"status": REVERSED},
        detail={**detail, "members": len(back), "reversal_action_ids": reversals, "note": note},
    )
    return back, reversals


def split_from_cluster(session: Session, *, item_id: int, actor: str, now: datetime) -> int:
    """Take item `item_id` out of its cluster, to be decided alone; returns the cluster
    it left. Its own decision (if any) stands; a representative is replaced by the
    lowest remaining member. Audited as `split_from_cluster`."""
    rows = lock_items(session, [item_id])
    if item_id not in rows:
        raise NotFound(f"item {item_id} does not exist")
    cluster_id = rows[item_id]["cluster_id"]
    if cluster_id is None:
        raise InvalidState(f"item {item_id} is not in a cluster")
    cluster = _cluster(session, int(cluster_id), lock=True)
    conn = session.connection()
    conn.execute(update(ITEM).where(ITEM.c.id == item_id).values(cluster_id=None, updated_at=now))
    remaining = _members(session, int(cluster_id))
    cluster.member_count = len(remaining)
    if cluster.representative_item_id == item_id:
        cluster.representative_item_id = remaining[0] if remaining else None
    cluster.updated_at = now
    session.flush()
    record_event(
        session,
        actor=actor,
        event="split_from_cluster",
        at=now,
        item_id=item_id,
        before={"cluster_id": cluster_id},
        after={"cluster_id": None},
        detail={
            "cluster_id": cluster_id,
            "representative_item_id": cluster.representative_item_id,
            "members": cluster.member_count,
        },
    )
    session.expire_all()
    return int(cluster_id)


def propagation_of(guideline: Guideline) -> tuple[Propagation, float]:
    """The guideline's `clusters.propagate` setting and `propagate_review_share`
    (front matter; defaults `suggest` and 0.1)."""
    settings = guideline.clusters
    mode = settings.propagate
    if mode not in _PROPAGATIONS:
        raise InvalidState(f"guideline {guideline.id!r}: unknown propagate setting {mode!r}")
    return cast(Propagation, mode), float(settings.propagate_review_share)


def _for_review(source: str, external_id: str, share: float) -> bool:
    """Whether a late copy decided by `auto` still goes to a person (deterministic on its
    identity, drawn apart from the second-review sample)."""
    return sampled_for_second_review(f"propagate\0{source}", external_id, share)


def apply_cluster_standing(
    session: Session,
    *,
    cluster_id: int,
    item_ids: Sequence[int],
    guidelines: GuidelineSet,
    now: datetime,
    propagate: Propagation | None = None,
    review_share: float | None = None,
) -> StandingOutcome:
    """Late copies `item_ids` joined cluster `cluster_id`: apply its standing decision.

    Only a cluster whose newest standing decision is a takedown (its action is not
    `none`) propagates; then the guideline's `propagate` setting (or `propagate` given
    here) says what happens to each pending copy still in its policy's own queue:

    - `suggest`: it stays queued, with the cluster's label as its suggestion (shown on
      the review screen, like a model's; `signal` is `cluster:<id>`);
    - `auto`: it is decided at once (`bulk.decide_items`: origin `propagated`, actor the
      cluster's decider, `cluster_decision_id` set), except a `propagate_review_share`
      (or `review_share`) of copies, drawn by identity, which are queued as `suggest`;
    - `off`: nothing.

    Ingest calls it after cluster assignment, in its transaction; audited per item.
    """
    cluster = _cluster(session, cluster_id, lock=True)
    guideline = _guideline(guidelines, cluster)
    mode, share = propagation_of(guideline)
    mode = propagate or mode
    share = share if review_share is None else review_share
    standing = latest_cluster_decision(session, cluster_id)
    ids = sorted(set(item_ids))
    if (
        mode == "off"
        or standing is None
        or standing.id is None
        or standing.action == Action.NONE.value
    ):
        return StandingOutcome(mode, untouched=ids)
    rows = lock_items(session, ids)
    open_rows = [
        rows[i]
        for i in ids
        if i in rows
        and rows[i]["cluster_id"] == cluster_id
        and rows[i]["status"] == ItemStatus.PENDING
        and (rows[i]["queue"] == rows[i]["policy"] or is_low_queue(rows[i]["queue"]))
    ]
    to_decide = [
        int(r["id"])
        for r in open_rows
        if mode == "auto" and not _for_review(r["source"], r["external_id"], share)
    ]
    to_suggest = [int(r["id"]) for r in open_rows if int(r["id"]) not in set(to_decide)]
    outcome = StandingOutcome(mode, cluster_decision_id=standing.id)
    if to_decide:
        done = decide_items(
            session,
            item_ids=to_decide,
            reviewer=standing.reviewer,
            label=standing.label,
            guidelines=guidelines,
            now=now,
            origin=PROPAGATED,
            note=f"propagated from cluster decision {standing.id}",
            cluster_decision_id=standing.id,
            event_detail={"cluster_id": cluster_id},
        )
        outcome.decided.extend(done.decided)
        standing.member_count += len(done.decision_ids)
        standing.detail = {
            **standing.detail,
            "propagated": int(standing.detail.get("propagated", 0)) + len(done.decision_ids),
        }
    if to_suggest:
        suggestion = {
            "label": standing.label,
            "signal": f"cluster:{cluster_id}",
            "score": 1.0,
            "band": "suggest",
            "cluster_decision_id": standing.id,
        }
        conn = session.connection()
        for part in chunks(to_suggest):  # a few late copies: plain IN lists
            conn.execute(
                update(ITEM)
                .where(ITEM.c.id.in_(part))
                .values(suggestion=suggestion, updated_at=now)
            )
        record_events(
            session,
            [
                AuditRecord(
                    actor=standing.reviewer,
                    event="cluster_suggested",
                    at=now,
                    item_id=item_id,
                    before={"suggestion": None},
                    after={"suggestion": suggestion},
                    detail={"cluster_id": cluster_id, "propagate": mode},
                )
                for item_id in to_suggest
            ],
        )
        outcome.suggested.extend(to_suggest)
    done_ids = set(outcome.decided) | set(outcome.suggested)
    outcome.untouched.extend(i for i in ids if i not in done_ids)
    session.flush()
    session.expire_all()
    return outcome


def _late_copies(
    session: Session,
    *,
    cluster_id: int,
    item_ids: list[int],
    guidelines: GuidelineSet,
    now: datetime,
) -> StandingOutcome:
    return apply_cluster_standing(
        session, cluster_id=cluster_id, item_ids=item_ids, guidelines=guidelines, now=now
    )


LATE_COPIES.append(_late_copies)
