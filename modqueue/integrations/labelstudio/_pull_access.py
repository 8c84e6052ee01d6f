"""Who a pulled annotation acts as, and whether they may: the pull's side of access control.

In open mode (no reviewer registered) an annotation acts as `ls:<annotator e-mail>`, as
it always did. Once reviewers are registered, the annotator's e-mail must be linked to a
reviewer (`modqueue reviewers link NAME --labelstudio-email E`), and `authorize` must
allow that reviewer the operation on the item (enabled, granted the item's policy, and a
senior or above in a senior queue). The annotation then counts as that reviewer's.

A refusal leaves the annotation unapplied and the item as it was, is audited as
`access_denied` (after the pull's transaction, like every refusal), is reported, and is
kept as a `LabelStudioRefusal`: every later pull fetches that task again by id, whatever
its cursor says, and applies the annotation once the link or grant is fixed. A refusal
that has not changed since the last pull is reported again but not audited again, so a
scheduler pulling every minute does not flood the audit log.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlmodel import Session, col

from modqueue._exceptions import PermissionDenied
from modqueue.integrations.labelstudio._models import LabelStudioRefusal
from modqueue.queue import (
    Permission,
    Reviewer,
    Role,
    authorize,
    is_open_mode,
    is_senior_queue,
    refuse,
    reviewer_for_labelstudio,
)

__all__ = [
    "Attempt",
    "PullAccess",
    "Refused",
    "forget_tasks",
    "open_mode_actor",
    "refused_task_ids",
]


class Refused(Exception):
    """The annotator may not apply this annotation; `reason` says why and what fixes it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Attempt:
    """One annotation about to be applied to an item in `queue`."""

    project_id: int
    task_id: int
    annotation_id: int
    email: str
    item_id: int
    queue: str

    def describe(self) -> str:
        """`task T annotation A by E`, the start of a report line."""
        return f"task {self.task_id} annotation {self.annotation_id} by {self.email}"


def open_mode_actor(email: str) -> str:
    """The reviewer name an annotation acts as while no reviewer is registered."""
    return f"ls:{email}"


def _hint(reviewer: Reviewer, queue: str) -> str:
    """What an admin can do about a refusal that `authorize`'s message does not say."""
    name = reviewer.name
    if reviewer.disabled:
        return (
            f"; an admin re-enables them with `modqueue reviewers disable {name} --enable`, "
            "or links the account to another reviewer"
        )
    if is_senior_queue(queue) and Role(reviewer.role).rank < Role.SENIOR.rank:
        return f"; an admin can run `modqueue reviewers grant {name} --role senior`"
    return ""


class PullAccess:
    """Access checks for one pull transaction: open mode is looked up once, linked
    reviewers once per e-mail, a task's earlier refusals once per task."""

    def __init__(self, session: Session, now: datetime) -> None:
        self.session = session
        self.now = now
        self.open_mode = is_open_mode(session)
        self._linked: dict[str, Reviewer | None] = {}
        self._refusals: dict[int, dict[int, LabelStudioRefusal]] = {}

    def _reviewer(self, email: str) -> Reviewer | None:
        key = email.strip().lower()
        if key not in self._linked:
            self._linked[key] = reviewer_for_labelstudio(self.session, key)
        return self._linked[key]

    def preload(self, item_ids: Iterable[int]) -> None:
        """Read the refusals kept for all of `item_ids` in one query (a page's items)."""
        if self.open_mode:
            return
        ids = list(item_ids)
        self._refusals = {item_id: {} for item_id in ids}
        rows = self.session.scalars(
            select(LabelStudioRefusal).where(col(LabelStudioRefusal.item_id).in_(ids))
        )
        for row in rows:
            self._refusals[row.item_id][row.annotation_id] = row

    def earlier(self, item_id: int) -> dict[int, LabelStudioRefusal]:
        """The refusals kept for `item_id`'s task, by annotation id."""
        if self.open_mode:
            return {}
        if item_id in self._refusals:
            return dict(self._refusals[item_id])
        rows = self.session.scalars(
            select(LabelStudioRefusal).where(col(LabelStudioRefusal.item_id) == item_id)
        )
        return {row.annotation_id: row for row in rows}

    def act_as(
        self,
        attempt: Attempt,
        permission: Permission,
        earlier: LabelStudioRefusal | None,
    ) -> str:
        """The reviewer name `attempt` acts as; raises `Refused` (audited, unless
        `earlier` already recorded the same refusal)."""
        if self.open_mode:
            return open_mode_actor(attempt.email)
        detail: dict[str, Any] = {
            "origin": "labelstudio",
            "labelstudio_task": attempt.task_id,
            "annotation_id": attempt.annotation_id,
            "labelstudio_email": attempt.email,
        }
        reviewer = self._reviewer(attempt.email)
        if reviewer is None:
            reason = (
                f"no reviewer is linked to the Label Studio account {attempt.email!r}: an "
                f"admin runs `modqueue reviewers link NAME --labelstudio-email "
                f"{attempt.email}` (NAME: the reviewer who annotates as {attempt.email})"
            )
            if earlier is None or earlier.reason != reason:
                refuse(
                    self.session,
                    reason,
                    actor=open_mode_actor(attempt.email),
                    item_id=attempt.item_id,
                    detail={**detail, "permission": permission.value, "queue": attempt.queue},
                    now=self.now,
                )
            raise Refused(reason)

        def check(audit: bool) -> None:
            authorize(
                self.session,
                reviewer=reviewer.name,
                permission=permission,
                queue=attempt.queue,
                item_id=attempt.item_id,
                now=self.now,
                detail=detail,
                audit=audit,
            )

        try:
            check(audit=earlier is None)
        except PermissionDenied as exc:
            reason = f"{exc}{_hint(reviewer, attempt.queue)}"
            if earlier is not None and earlier.reason != reason:
                with contextlib.suppress(PermissionDenied):  # refused for a new reason:
                    check(audit=True)  # that one is audited
            raise Refused(reason) from None
        return reviewer.name

    def remember(self, attempt: Attempt, reason: str, earlier: LabelStudioRefusal | None) -> None:
        """Keep `attempt`'s refusal so that later pulls fetch its task again."""
        if earlier is not None:
            if earlier.reason != reason:
                earlier.reason = reason
                earlier.refused_at = self.now
            earlier.labelstudio_email = attempt.email
            return
        self.session.add(
            LabelStudioRefusal(
                annotation_id=attempt.annotation_id,
                item_id=attempt.item_id,
                project_id=attempt.project_id,
                task_id=attempt.task_id,
                labelstudio_email=attempt.email,
                reason=reason,
                refused_at=self.now,
            )
        )

    def forget(self, rows: Iterable[LabelStudioRefusal]) -> None:
        """Drop refusals that no longer hold (applied, or the annotation is gone)."""
        for row in rows:
            self.session.delete(row)


def refused_task_ids(session: Session, project_id: int) -> list[int]:
    """The tasks of `project_id` with a refused annotation waiting, oldest task first."""
    return list(
        session.scalars(
            select(col(LabelStudioRefusal.task_id))
            .where(col(LabelStudioRefusal.project_id) == project_id)
            .distinct()
            .order_by(col(LabelStudioRefusal.task_id))
        )
    )


def forget_tasks(session: Session, project_id: int, task_ids: Iterable[int]) -> None:
    """Drop the refusals of tasks Label Studio no longer has."""
    ids = list(task_ids)
    if ids:
        session.execute(
            delete(LabelStudioRefusal).where(
                col(LabelStudioRefusal.project_id) == project_id,
                col(LabelStudioRefusal.task_id).in_(ids),
            )
        )
