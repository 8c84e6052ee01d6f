"""The outbox in the database: claiming due actions, recording outcomes, listing, retrying.

Claiming reserves rows like a lease: on PostgreSQL with `FOR UPDATE SKIP LOCKED` (several
dispatchers never take the same row), on SQLite inside the `BEGIN IMMEDIATE` transaction
every modqueue session opens. A claim increments `attempts` and pushes `next_attempt_at`
forward by the lease, so the actions of a dispatcher that dies mid-batch come back once
the lease runs out, with the same idempotency key.
"""

from __future__ import annotations

import math
import random
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Select, and_, exists, func, or_, select
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from modqueue._exceptions import InvalidState, NotFound
from modqueue.config import PlatformConfig
from modqueue.integrations.actions._outcome import Outcome, OutcomeKind
from modqueue.integrations.actions._payload import ClaimedAction
from modqueue.queue import (
    ActionStatus,
    AuditRecord,
    OutboundAction,
    OutboundActionPublic,
    record_events,
)

__all__ = [
    "RecordSummary",
    "backoff_seconds",
    "claim_due",
    "claim_follow_ups",
    "list_actions",
    "record_outcomes",
    "record_polls",
    "retry_actions",
    "unconfigured_sources",
]

DISPATCHER = "dispatcher"
_S = TypeVar("_S", bound=Select[Any])


@dataclass
class RecordSummary:
    """What recording a batch of outcomes changed."""

    done: int = 0
    declined: int = 0
    sent: int = 0
    follow_up: int = 0
    retried: int = 0
    failed: int = 0
    stale: int = 0  # the row moved on meanwhile (lease lost, cancelled): nothing written


def _lock_claimed(session: Session, ids: list[int]) -> dict[int | None, OutboundAction]:
    """The outbox rows `ids`, locked for recording their outcomes, by id."""
    if not ids:
        return {}
    return {
        row.id: row
        for row in session.scalars(
            select(OutboundAction).where(col(OutboundAction.id).in_(ids)).with_for_update()
        )
    }


def _claimed(row: OutboundAction) -> ClaimedAction:
    assert row.id is not None
    return ClaimedAction(
        id=row.id,
        attempts=row.attempts,
        idempotency_key=row.idempotency_key,
        action=row.action,
        source=row.source,
        external_id=row.external_id,
        policy=row.policy,
        label=row.label,
        reason=row.reason,
        decided_at=row.created_at,
        reference=row.reference,
    )


def lease_seconds(cfg: PlatformConfig, count: int) -> float:
    """How long `count` claimed actions of one platform stay reserved to one dispatcher."""
    if cfg.lease_s is not None:
        return cfg.lease_s
    rounds = math.ceil(count / cfg.concurrency) + 1
    paced = count / cfg.rate_per_s if cfg.rate_per_s else 0.0
    return cfg.timeout_s * rounds + paced + 5.0


def backoff_seconds(cfg: PlatformConfig, attempt: int, retry_after: float | None) -> float:
    """Exponential backoff with jitter for `attempt` (1-based), at least `retry_after`."""
    ceiling = min(cfg.backoff_max_s, cfg.backoff_base_s * 2 ** min(attempt - 1, 40))
    delay = random.uniform(ceiling / 2, ceiling)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay


def _lock(session: Session, stmt: _S) -> _S:
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        return stmt.with_for_update(skip_locked=True, of=OutboundAction)
    return stmt  # SQLite: the session's BEGIN IMMEDIATE already holds the write lock


def _event(
    row: OutboundAction,
    event: str,
    now: datetime,
    before: str | None,
    detail: dict[str, object],
    actor: str = DISPATCHER,
) -> AuditRecord:
    return AuditRecord(
        actor=actor,
        event=event,
        at=now,
        item_id=row.item_id,
        before={"status": before} if before is not None else None,
        after={"status": row.status},
        detail={"action_id": row.id, **detail},
    )


def claim_due(
    session: Session,
    *,
    platforms: Mapping[str, PlatformConfig],
    now: datetime,
    limit: int,
) -> list[ClaimedAction]:
    """Reserve up to `limit` due pending actions of the configured `platforms`.

    Oldest due first. A reversal waits until the action it reverses is no longer pending.
    An action whose earlier attempts already used up `max_attempts` (its dispatcher died
    during the last one) is failed here instead of being sent again.
    """
    if not platforms:
        return []
    original = aliased(OutboundAction)
    stmt = (
        select(OutboundAction)
        .where(
            col(OutboundAction.status) == ActionStatus.PENDING,
            col(OutboundAction.next_attempt_at) <= now,
            col(OutboundAction.source).in_(list(platforms)),
            or_(
                col(OutboundAction.reverses_id).is_(None),
                ~exists().where(
                    and_(
                        col(original.id) == col(OutboundAction.reverses_id),
                        col(original.status) == ActionStatus.PENDING,
                    )
                ),
            ),
        )
        .order_by(col(OutboundAction.next_attempt_at), col(OutboundAction.id))
        .limit(limit)
    )
    rows = list(session.scalars(_lock(session, stmt)))
    per_platform: dict[str, int] = {}
    for row in rows:
        per_platform[row.source] = per_platform.get(row.source, 0) + 1
    claimed: list[ClaimedAction] = []
    events: list[AuditRecord] = []
    for row in rows:
        cfg = platforms[row.source]
        if row.attempts >= cfg.max_attempts:
            row.status = ActionStatus.FAILED
            row.last_error = (
                f"gave up after {row.attempts} attempts (the last one was interrupted): "
                f"{row.last_error or 'no answer recorded'}"
            )
            row.updated_at = now
            events.append(
                _event(row, "action_failed", now, ActionStatus.PENDING, {"error": row.last_error})
            )
            continue
        row.attempts += 1
        row.next_attempt_at = now + timedelta(seconds=lease_seconds(cfg, per_platform[row.source]))
        row.updated_at = now
        claimed.append(_claimed(row))
    session.flush()
    record_events(session, events)
    return claimed


def _apply_final(
    row: OutboundAction, status: ActionStatus, outcome: Outcome, now: datetime
) -> AuditRecord:
    before = row.status
    row.status = status
    row.reply = outcome.reply
    if outcome.reference is not None:
        row.reference = outcome.reference
    row.last_error = outcome.error
    row.updated_at = now
    return _event(
        row,
        f"action_{status.value}",
        now,
        before,
        {"attempt": row.attempts, "http_status": outcome.http_status, "error": outcome.error},
    )


def record_outcomes(
    session: Session,
    *,
    results: Sequence[tuple[ClaimedAction, Outcome]],
    platforms: Mapping[str, PlatformConfig],
    now: datetime,
) -> RecordSummary:
    """Write each delivery attempt's outcome, with an audit event per status change.

    A result is dropped (counted `stale`) when its row is no longer pending with the
    attempt number of the claim: another dispatcher has claimed it since, or it was
    cancelled.
    """
    summary = RecordSummary()
    rows = _lock_claimed(session, [claimed.id for claimed, _ in results])
    events: list[AuditRecord] = []
    for claimed, outcome in results:
        row = rows.get(claimed.id)
        if row is None or row.status != ActionStatus.PENDING or row.attempts != claimed.attempts:
            summary.stale += 1
            continue
        cfg = platforms[row.source]
        kind = outcome.kind
        if kind == OutcomeKind.DONE:
            events.append(_apply_final(row, ActionStatus.DONE, outcome, now))
            summary.done += 1
        elif kind == OutcomeKind.DECLINED:
            events.append(_apply_final(row, ActionStatus.DECLINED, outcome, now))
            summary.declined += 1
        elif kind == OutcomeKind.SENT:
            events.append(_apply_final(row, ActionStatus.SENT, outcome, now))
            summary.sent += 1
        elif kind == OutcomeKind.FOLLOW_UP:
            events.append(_apply_final(row, ActionStatus.SENT, outcome, now))
            row.next_attempt_at = now + timedelta(seconds=cfg.status_poll_s)
            summary.follow_up += 1
        elif kind == OutcomeKind.FAILED:
            events.append(_apply_final(row, ActionStatus.FAILED, outcome, now))
            summary.failed += 1
        elif row.attempts >= cfg.max_attempts:
            failed = Outcome(
                OutcomeKind.FAILED,
                outcome.http_status,
                outcome.reply,
                error=f"gave up after {row.attempts} attempts: {outcome.error}",
            )
            events.append(_apply_final(row, ActionStatus.FAILED, failed, now))
            summary.failed += 1
        else:
            delay = backoff_seconds(cfg, row.attempts, outcome.retry_after)
            row.next_attempt_at = now + timedelta(seconds=delay)
            row.last_error = outcome.error
            if outcome.reply is not None:
                row.reply = outcome.reply
            row.updated_at = now
            events.append(
                _event(
                    row,
                    "action_retry_scheduled",
                    now,
                    None,
                    {
                        "attempt": row.attempts,
                        "http_status": outcome.http_status,
                        "error": outcome.error,
                        "next_attempt_at": row.next_attempt_at.isoformat(),
                    },
                )
            )
            summary.retried += 1
    session.flush()
    record_events(session, events)
    return summary


def claim_follow_ups(
    session: Session,
    *,
    platforms: Mapping[str, PlatformConfig],
    now: datetime,
    limit: int,
) -> list[ClaimedAction]:
    """Reserve up to `limit` sent actions whose platform outcome is pending and due a poll.

    Only platforms with a `status_url` are polled.
    """
    pollable = [name for name, cfg in platforms.items() if cfg.status_url]
    if not pollable:
        return []
    stmt = (
        select(OutboundAction)
        .where(
            col(OutboundAction.status) == ActionStatus.SENT,
            col(OutboundAction.reference).is_not(None),
            col(OutboundAction.next_attempt_at) <= now,
            col(OutboundAction.source).in_(pollable),
        )
        .order_by(col(OutboundAction.next_attempt_at), col(OutboundAction.id))
        .limit(limit)
    )
    rows = list(session.scalars(_lock(session, stmt)))
    for row in rows:
        cfg = platforms[row.source]
        row.next_attempt_at = now + timedelta(seconds=lease_seconds(cfg, len(rows)))
    session.flush()
    return [_claimed(row) for row in rows]


def record_polls(
    session: Session,
    *,
    results: Sequence[tuple[ClaimedAction, Outcome]],
    platforms: Mapping[str, PlatformConfig],
    now: datetime,
) -> RecordSummary:
    """Write status polls: done or declined end the follow-up; anything else polls again
    after `status_poll_s` (longer when the platform asks with `Retry-After`)."""
    summary = RecordSummary()
    rows = _lock_claimed(session, [claimed.id for claimed, _ in results])
    events: list[AuditRecord] = []
    for claimed, outcome in results:
        row = rows.get(claimed.id)
        if row is None or row.status != ActionStatus.SENT:
            summary.stale += 1
            continue
        if outcome.kind == OutcomeKind.DONE:
            events.append(_apply_final(row, ActionStatus.DONE, outcome, now))
            summary.done += 1
        elif outcome.kind == OutcomeKind.DECLINED:
            events.append(_apply_final(row, ActionStatus.DECLINED, outcome, now))
            summary.declined += 1
        else:
            cfg = platforms[row.source]
            delay = max(cfg.status_poll_s, outcome.retry_after or 0.0)
            row.next_attempt_at = now + timedelta(seconds=delay)
            row.last_error = outcome.error
            row.updated_at = now
            if outcome.kind == OutcomeKind.FOLLOW_UP:
                row.reply = outcome.reply
                summary.follow_up += 1
            else:
                summary.retried += 1
    session.flush()
    record_events(session, events)
    return summary


def unconfigured_sources(
    session: Session, *, platforms: Collection[str], now: datetime
) -> dict[str, int]:
    """Due pending actions per source that has no `[platforms.NAME]` table."""
    rows = session.execute(
        select(col(OutboundAction.source), func.count())
        .where(
            col(OutboundAction.status) == ActionStatus.PENDING,
            col(OutboundAction.next_attempt_at) <= now,
            col(OutboundAction.source).not_in(list(platforms)),
        )
        .group_by(col(OutboundAction.source))
    ).all()
    return {str(source): int(count) for source, count in rows}


def list_actions(
    session: Session, *, status: str | None = None, limit: int | None = None
) -> list[OutboundActionPublic]:
    """Outbound actions, oldest first, optionally of one status."""
    if status is not None and status not in {s.value for s in ActionStatus}:
        valid = ", ".join(s.value for s in ActionStatus)
        raise InvalidState(f"unknown action status {status!r} (one of: {valid})")
    stmt = select(OutboundAction).order_by(col(OutboundAction.id))
    if status is not None:
        stmt = stmt.where(col(OutboundAction.status) == status)
    if limit is not None:
        stmt = stmt.limit(limit)
    return [
        OutboundActionPublic.model_validate(r, from_attributes=True) for r in session.scalars(stmt)
    ]


def retry_actions(
    session: Session,
    *,
    action_ids: Sequence[int] | None,
    actor: str,
    now: datetime,
) -> list[int]:
    """Queue failed actions again (all of them when `action_ids` is None).

    The idempotency key stays the same, `attempts` starts again from zero and the last
    error is kept until the next attempt. Returns the ids queued. Raises `NotFound` for an
    id that does not exist and `InvalidState` for one that is not failed.
    """
    stmt = select(OutboundAction).order_by(col(OutboundAction.id)).with_for_update()
    if action_ids is None:
        rows = list(session.scalars(stmt.where(col(OutboundAction.status) == ActionStatus.FAILED)))
    else:
        rows = list(session.scalars(stmt.where(col(OutboundAction.id).in_(list(action_ids)))))
        missing = sorted(set(action_ids) - {r.id for r in rows if r.id is not None})
        if missing:
            raise NotFound(f"action(s) {', '.join(map(str, missing))} do not exist")
        wrong = [f"{r.id} is {r.status}" for r in rows if r.status != ActionStatus.FAILED]
        if wrong:
            raise InvalidState(f"only failed actions can be retried: action {'; '.join(wrong)}")
    events = []
    for row in rows:
        row.status = ActionStatus.PENDING
        row.attempts = 0
        row.next_attempt_at = now
        row.updated_at = now
        events.append(
            _event(
                row,
                "action_retry_requested",
                now,
                ActionStatus.FAILED,
                {"last_error": row.last_error},
                actor=actor,
            )
        )
    session.flush()
    record_events(session, events)
    return [r.id for r in rows if r.id is not None]
