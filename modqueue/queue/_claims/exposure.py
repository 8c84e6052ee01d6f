"""Exposure budgets: how much harmful material each reviewer has been shown this shift.

Every item a reviewer is shown adds points: the policy's severity times a weight for what
happened (shown with its graphic parts hidden, graphic text revealed, media revealed; see
`ExposureConfig`). A shift is the last `[exposure] shift` hours. From `near` x budget on,
`claim_next` holds back the graphic policies for that reviewer: routing, not a lock-out.
A lead can lift the hold for one shift (`lift_exposure`, audited). After `checkin_after`
graphic reveals the desk offers a skippable check-in; only that it was shown is kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Boolean,
    Float,
    Table,
    Text,
    and_,
    bindparam,
    case,
    cast,
    exists,
    false,
    func,
    insert,
    literal,
    not_,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql.elements import BindParameter, ColumnElement
from sqlalchemy.sql.selectable import CTE
from sqlmodel import Session

from modqueue.guidelines import GuidelineSet
from modqueue.queue._audit.chain import record_event
from modqueue.queue._core.exposure_config import ExposureConfig, ExposureKind
from modqueue.queue._core.exposure_models import ExposureEvent, ExposureLift
from modqueue.queue._core.prepared import Prepared
from modqueue.queue._core.routing import DEFAULT_SEVERITY, policy_numbers

__all__ = [
    "ClaimHold",
    "ClaimSeen",
    "ExposureStatus",
    "QueueExposure",
    "ReviewerExposure",
    "claim_hold",
    "claim_seen",
    "exposure_by_queue",
    "exposure_by_reviewer",
    "exposure_status",
    "graphic_policies",
    "lift_exposure",
    "record_checkin",
    "record_exposure",
]

_EVENT: Table = ExposureEvent.metadata.tables["exposure_event"]
_LIFT: Table = ExposureLift.metadata.tables["exposure_lift"]


@dataclass(frozen=True, slots=True)
class ExposureStatus:
    """A reviewer's exposure in the current shift and what it means for routing.

    `held_back` names the graphic policies `claim_next` does not hand them now (empty
    below `near` x budget, when lifted, or with budgets off). `checkin_due` is true once
    `checkin_after` graphic reveals happened since the shift began or the last check-in.
    """

    reviewer: str
    points: float
    budget: float
    near_at: float
    shift_started: datetime
    graphic_reveals: int
    lifted_until: datetime | None
    held_back: tuple[str, ...]
    checkin_due: bool
    enabled: bool = True

    @property
    def share(self) -> float:
        """Points as a share of the budget (may pass 1.0)."""
        return self.points / self.budget if self.budget else 0.0

    def explain(self) -> str:
        """One plain sentence for the reviewer: where they stand and what it changes."""
        where = f"Exposure this shift: {self.points:.0f} of {self.budget:.0f} points"
        if self.lifted_until is not None:
            return f"{where}; a lead lifted the limit until {self.lifted_until:%H:%M} UTC."
        if self.held_back:
            held = ", ".join(self.held_back)
            return (
                f"{where}. Graphic queues ({held}) are held back for you for now: take a "
                "break or pick another queue. A lead can lift this for one shift."
            )
        return f"{where}."


@dataclass(slots=True)
class QueueExposure:
    """A queue's exposure over a window, summed over everyone (no one's own figure)."""

    queue: str
    points: float = 0.0
    shown: int = 0
    reveals: int = 0


@dataclass(slots=True)
class ReviewerExposure:
    """One reviewer's exposure over a window (sensitive: `VIEW_PERSONAL_EXPOSURE`)."""

    reviewer: str
    points: float = 0.0
    shown: int = 0
    graphic_reveals: int = 0
    by_policy: dict[str, float] = field(default_factory=dict)


def graphic_policies(guidelines: GuidelineSet) -> frozenset[str]:
    """The policies whose guideline marks their material graphic."""
    return frozenset(g.id for g in guidelines if g.graphic)


def _shift_start(config: ExposureConfig, now: datetime) -> datetime:
    return now - timedelta(hours=config.shift_hours)


def _status_statement() -> Prepared:
    """A reviewer's points, graphic reveals and graphic reveals since their last check-in
    this shift: built once (it runs on every claim)."""
    reviewer: BindParameter[str] = bindparam("e_reviewer")
    start: BindParameter[datetime] = bindparam("e_start", type_=_EVENT.c.at.type)
    last_checkin = (
        select(func.max(_EVENT.c.at))
        .where(
            _EVENT.c.reviewer == reviewer,
            _EVENT.c.at >= start,
            _EVENT.c.kind == bindparam("e_checkin"),
        )
        .scalar_subquery()
    )
    reveals: list[BindParameter[str]] = [
        bindparam(f"e_reveal_{i}", kind) for i, kind in enumerate(ExposureKind.REVEALS)
    ]
    graphic_reveal = and_(_EVENT.c.graphic, _EVENT.c.kind.in_(reveals))
    statement = select(
        func.coalesce(func.sum(_EVENT.c.points), 0.0),
        func.coalesce(func.sum(case((graphic_reveal, 1), else_=0)), 0),
        func.coalesce(
            func.sum(
                case(
                    (and_(graphic_reveal, _EVENT.c.at > func.coalesce(last_checkin, start)), 1),
                    else_=0,
                )
            ),
            0,
        ),
    ).where(_EVENT.c.reviewer == reviewer, _EVENT.c.at >= start)
    return Prepared(statement)


_STATUS = _status_statement()
_CHECKIN = ExposureKind.CHECKIN
_LIFTED = Prepared(
    select(func.max(_LIFT.c.until)).where(
        _LIFT.c.reviewer == bindparam("e_reviewer"),
        _LIFT.c.until > bindparam("e_now", type_=_LIFT.c.until.type),
    )
)
_INSERT_EVENT = Prepared(
    insert(_EVENT).values(
        {c.name: bindparam(c.name, type_=c.type) for c in _EVENT.c if c.name != "id"}
    )
)


@dataclass(frozen=True, slots=True)
class ClaimHold:
    """The exposure hold as a condition of the claim statement itself, so a claim reads
    no exposure first: an item is handed out unless its policy is graphic and the
    reviewer is held back (points this shift at `near` x budget or more, and no live
    lift), what `exposure_status(...).held_back` says, decided by the database in the
    same statement (its exposure sums run once per statement, not per row)."""

    graphic: tuple[str, ...]
    params: dict[str, object]

    @staticmethod
    def condition(policy: ColumnElement[str | None], graphic: int) -> ColumnElement[bool]:
        """True for an item of `policy` the reviewer may be shown (`graphic`: how many
        graphic policies are bound, `h_graphic_0`...)."""
        return or_(
            policy.is_(None),
            ClaimHold.allowed(policy, graphic),
            not_(ClaimHold.held()),
        )

    @staticmethod
    def allowed(policy: ColumnElement[str | None], graphic: int) -> ColumnElement[bool]:
        """True for a `policy` (not NULL) that is none of the `graphic` bound."""
        return policy.not_in([bindparam(f"h_graphic_{i}") for i in range(graphic)])

    @staticmethod
    def held() -> ColumnElement[bool]:
        """True while the reviewer is held back (points this shift at the near mark or
        more, and no live lift)."""
        reviewer: BindParameter[str] = bindparam("h_reviewer")
        # Points are never negative (severity 1-5, weights >= 0), so the shift's sum
        # reaches the near mark exactly when a running sum in `at` order does: the
        # search stops at the event that reaches it (read in the order of
        # `ix_exposure_event_reviewer_at`), not after every event of a long shift. A
        # reviewer below the mark has fewer than `near` / (smallest points) events.
        running = (
            select(
                func.sum(_EVENT.c.points)
                .over(order_by=_EVENT.c.at, rows=(None, 0))
                .label("points_so_far")
            )
            .where(
                _EVENT.c.reviewer == reviewer,
                _EVENT.c.at >= bindparam("h_start", type_=_EVENT.c.at.type),
            )
            .subquery("shift_points")
        )
        reached = exists().where(running.c.points_so_far >= bindparam("h_near"))
        lifted = exists().where(
            _LIFT.c.reviewer == reviewer,
            _LIFT.c.until > bindparam("h_now", type_=_LIFT.c.until.type),
        )
        return and_(reached, not_(lifted))


def claim_hold(
    *, reviewer: str, now: datetime, config: ExposureConfig, guidelines: GuidelineSet
) -> ClaimHold | None:
    """The hold `claim_next` puts on `reviewer`'s claim (None: budgets off, or no graphic
    policy to hold back); no query."""
    graphic = tuple(sorted(graphic_policies(guidelines)))
    if not config.enabled or not graphic:
        return None
    params: dict[str, object] = {
        "h_reviewer": reviewer,
        "h_start": _shift_start(config, now),
        "h_now": now,
        "h_near": config.budget_for(reviewer) * config.near,
    }
    params |= {f"h_graphic_{i}": p for i, p in enumerate(graphic)}
    return ClaimHold(graphic, params)


def _array(name: str, item: type[Text] | type[Float[float]] | type[Boolean]) -> ColumnElement[Any]:
    return cast(bindparam(name, type_=ARRAY(item())), ARRAY(item()))


@dataclass(frozen=True, slots=True)
class ClaimSeen:
    """The exposure a claim adds (the item shown, `ExposureKind.SEEN`): on PostgreSQL
    written by the claim statement itself (`insert_cte`, one round trip less), on SQLite
    by `record` after it. Both count what `record_exposure` counts."""

    config: ExposureConfig
    guidelines: GuidelineSet

    @staticmethod
    def insert_cte(claimed: CTE) -> CTE:
        """The exposure row of the item `claimed` (a CTE of the claim UPDATE returning
        the item's columns) hands out, as an INSERT CTE: the points and graphic flag of
        its policy are looked up in the arrays `params` binds."""
        table = func.unnest(
            _array("x_policies", Text), _array("x_points", Float), _array("x_graphic", Boolean)
        ).table_valued("policy", "points", "graphic")
        per_policy = table.render_derived(name="x_policy")
        policy = claimed.c.policy
        points = case(
            (policy.is_(None), bindparam("x_none_points", type_=Float())),
            else_=func.coalesce(per_policy.c.points, bindparam("x_other_points", type_=Float())),
        )
        shown = select(
            bindparam("reviewer"),
            bindparam("now", type_=_EVENT.c.at.type),
            claimed.c.id,
            claimed.c.queue,
            policy,
            func.coalesce(per_policy.c.graphic, false()),
            literal(ExposureKind.SEEN),
            points,
        ).select_from(claimed.outerjoin(per_policy, per_policy.c.policy == policy))
        columns = ["reviewer", "at", "item_id", "queue", "policy", "graphic", "kind", "points"]
        return insert(_EVENT).from_select(columns, shown).cte("shown")

    def params(self) -> dict[str, object]:
        """The per-policy points and graphic flags `insert_cte` reads (as
        `record_exposure` counts them: severity x the `seen` weight)."""
        graphic = graphic_policies(self.guidelines)
        policies = sorted(g.id for g in self.guidelines)
        weight = self.config.weight
        seen = ExposureKind.SEEN
        return {
            "x_policies": policies,
            "x_points": [
                policy_numbers(self.guidelines, p)[0] * weight(seen, graphic=p in graphic)
                for p in policies
            ],
            "x_graphic": [p in graphic for p in policies],
            "x_none_points": policy_numbers(self.guidelines, None)[0] * weight(seen, graphic=False),
            "x_other_points": DEFAULT_SEVERITY * weight(seen, graphic=False),
        }

    def record(
        self,
        session: Session,
        *,
        reviewer: str,
        item_id: int,
        queue: str,
        policy: str | None,
        now: datetime,
    ) -> None:
        """Add the claimed item, shown, to `reviewer`'s exposure (`record_exposure`)."""
        record_exposure(
            session,
            reviewer=reviewer,
            item_id=item_id,
            queue=queue,
            policy=policy,
            kinds=(ExposureKind.SEEN,),
            now=now,
            config=self.config,
            guidelines=self.guidelines,
        )


def claim_seen(config: ExposureConfig, guidelines: GuidelineSet) -> ClaimSeen | None:
    """What a claim adds to exposure, or None with budgets off."""
    return ClaimSeen(config, guidelines) if config.enabled else None


def exposure_status(
    session: Session,
    *,
    reviewer: str,
    now: datetime,
    config: ExposureConfig,
    guidelines: GuidelineSet,
) -> ExposureStatus:
    """`reviewer`'s `ExposureStatus` at `now` (one indexed query; a second only when they
    are near their budget, to look for a lift)."""
    start = _shift_start(config, now)
    budget = config.budget_for(reviewer)
    near_at = budget * config.near
    if not config.enabled:
        return ExposureStatus(reviewer, 0.0, budget, near_at, start, 0, None, (), False, False)
    found = _STATUS.first(
        session.connection(), {"e_reviewer": reviewer, "e_start": start, "e_checkin": _CHECKIN}
    )
    assert found is not None  # an aggregate: always one row
    points, reveals, since_checkin = found
    lifted_until: datetime | None = None
    held: tuple[str, ...] = ()
    if float(points) >= near_at:
        lifted = _LIFTED.first(session.connection(), {"e_reviewer": reviewer, "e_now": now})
        lifted_until = lifted[0] if lifted is not None else None
        if lifted_until is None:
            held = tuple(sorted(graphic_policies(guidelines)))
    due = config.checkin_after > 0 and int(since_checkin) >= config.checkin_after
    return ExposureStatus(
        reviewer=reviewer,
        points=float(points),
        budget=budget,
        near_at=near_at,
        shift_started=start,
        graphic_reveals=int(reveals),
        lifted_until=lifted_until,
        held_back=held,
        checkin_due=due,
    )


def record_exposure(
    session: Session,
    *,
    reviewer: str,
    item_id: int,
    queue: str,
    policy: str | None,
    kinds: tuple[str, ...],
    now: datetime,
    config: ExposureConfig,
    guidelines: GuidelineSet,
) -> float:
    """Add what `reviewer` was shown of an item (`kinds`: `ExposureKind` values) to their
    exposure, in the caller's transaction; returns the points added. Media revealed
    counts only when the item has media to reveal (the caller says so by passing it)."""
    if not config.enabled or not kinds:
        return 0.0
    graphic = policy in graphic_policies(guidelines)
    severity, _sla = policy_numbers(guidelines, policy)
    rows: list[dict[str, object]] = [
        {
            "reviewer": reviewer,
            "at": now,
            "item_id": item_id,
            "queue": queue,
            "policy": policy,
            "graphic": graphic,
            "kind": kind,
            "points": severity * config.weight(kind, graphic=graphic),
        }
        for kind in kinds
    ]
    conn = session.connection()
    for row in rows:
        _INSERT_EVENT.execute(conn, row)
    return sum(severity * config.weight(kind, graphic=graphic) for kind in kinds)


def record_checkin(session: Session, *, reviewer: str, now: datetime) -> None:
    """Keep that a check-in was offered to `reviewer` (nothing else: not whether they
    took the pause)."""
    session.connection().execute(
        insert(_EVENT).values(
            reviewer=reviewer,
            at=now,
            item_id=None,
            queue="",
            policy=None,
            graphic=False,
            kind=ExposureKind.CHECKIN,
            points=0.0,
        )
    )


def lift_exposure(
    session: Session,
    *,
    reviewer: str,
    lead: str,
    now: datetime,
    config: ExposureConfig,
    reason: str = "",
) -> ExposureLift:
    """Let `reviewer` have graphic work again until the end of one shift from now; the
    lift is audited (`exposure_lifted`, actor the lead). The caller checks the lead's
    permission (`LIFT_EXPOSURE`)."""
    lift = ExposureLift(
        reviewer=reviewer,
        lifted_by=lead,
        lifted_at=now,
        until=now + timedelta(hours=config.shift_hours),
        reason=reason,
    )
    session.add(lift)
    session.flush()
    record_event(
        session,
        actor=lead,
        event="exposure_lifted",
        at=now,
        after={"reviewer": reviewer, "until": lift.until.isoformat()},
        detail={"reason": reason} if reason else None,
    )
    return lift


def exposure_by_queue(session: Session, *, since: datetime) -> dict[str, QueueExposure]:
    """Exposure per queue since `since`, summed over all reviewers (the lead dashboard)."""
    reveal = case((_EVENT.c.kind.in_(ExposureKind.REVEALS), 1), else_=0)
    shown = case((_EVENT.c.kind == ExposureKind.SEEN, 1), else_=0)
    out: dict[str, QueueExposure] = {}
    for queue, points, seen, reveals in session.execute(
        select(_EVENT.c.queue, func.sum(_EVENT.c.points), func.sum(shown), func.sum(reveal))
        .where(_EVENT.c.at >= since, _EVENT.c.kind != ExposureKind.CHECKIN)
        .group_by(_EVENT.c.queue)
    ):
        out[queue] = QueueExposure(queue, float(points or 0), int(seen or 0), int(reveals or 0))
    return out


def exposure_by_reviewer(session: Session, *, since: datetime) -> list[ReviewerExposure]:
    """Each reviewer's exposure since `since`, most exposed first. Sensitive: the caller
    checks `VIEW_PERSONAL_EXPOSURE`."""
    people: dict[str, ReviewerExposure] = {}
    graphic_reveal = case(
        (and_(_EVENT.c.graphic, _EVENT.c.kind.in_(ExposureKind.REVEALS)), 1), else_=0
    )
    shown = case((_EVENT.c.kind == ExposureKind.SEEN, 1), else_=0)
    for reviewer, policy, points, seen, reveals in session.execute(
        select(
            _EVENT.c.reviewer,
            _EVENT.c.policy,
            func.sum(_EVENT.c.points),
            func.sum(shown),
            func.sum(graphic_reveal),
        )
        .where(_EVENT.c.at >= since, _EVENT.c.kind != ExposureKind.CHECKIN)
        .group_by(_EVENT.c.reviewer, _EVENT.c.policy)
    ):
        person = people.setdefault(reviewer, ReviewerExposure(reviewer))
        person.points += float(points or 0)
        person.shown += int(seen or 0)
        person.graphic_reveals += int(reveals or 0)
        person.by_policy[policy or "triage"] = float(points or 0)
    return sorted(people.values(), key=lambda p: (-p.points, p.reviewer))
