"""`modqueue labelstudio pull`: annotations back into decisions, incrementally.

Tasks are read in pages ordered by `updated_at`, from a cursor kept in the database
(`SyncCursor`, one per project); a page's decisions and the cursor move are committed
together. Each annotation becomes a decision through the queue's own `decide` (the same
path as the terminal UI: guideline version, audit event, outbound action):

* the first final annotation on an item Label Studio holds decides it; its reviewer is
  the reviewer linked to the annotator's e-mail (`ls:<annotator e-mail>` in open mode),
  its seconds spent the annotation's lead time, its `external_ref` the annotation id;
* later annotations of the same task are stored too (`kind = second_review`), for
  agreement, without a second action;
* an updated annotation supersedes its decision (and, for the deciding one, the item's
  label and pending action);
* a cancelled (skipped) annotation gives the item back to the moderators' queue.

Each of these is authorized first (`_pull_access`): `decide` in the item's queue for the
first three, `release` for a skip. A refused annotation is not applied, is audited and
reported, and is retried by every later pull (its task is fetched again by id) until
access allows it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from modqueue._exceptions import NotFound, UnknownLabel
from modqueue.guidelines import REVERSAL_OF, Action, Guideline
from modqueue.integrations.labelstudio._client import (
    LabelStudioClient,
    format_ls_time,
    parse_ls_time,
)
from modqueue.integrations.labelstudio._labeling import ITEM_ID_KEY, NOTE_FIELD, VERDICT_FIELD
from modqueue.integrations.labelstudio._models import (
    LabelStudioProject,
    LabelStudioRefusal,
    LabelStudioTask,
    TaskState,
)
from modqueue.integrations.labelstudio._pull_access import (
    Attempt,
    PullAccess,
    Refused,
    forget_tasks,
    open_mode_actor,
    refused_task_ids,
)
from modqueue.integrations.labelstudio._push import LS_REVIEWER
from modqueue.queue import ReviewQueue, SyncCursor
from modqueue.queue._access import Permission
from modqueue.queue._audit import record_event
from modqueue.queue._claims import Claim
from modqueue.queue._decisions import decide, new_outbound_action
from modqueue.queue._models import Decision, Item, ItemPublic, OutboundAction
from modqueue.queue._routing import is_senior_queue, policy_of_queue, senior_queue
from modqueue.queue._types import ActionStatus, DecisionStatus, ItemStatus

__all__ = ["ORIGIN", "PullReport", "cursor_name", "pull"]

ORIGIN = "labelstudio"
OVERLAP = timedelta(seconds=1)
_IDS_PER_REQUEST = 200  # refused tasks fetched again per request (the ids go in the URL)
log = logging.getLogger("modqueue.labelstudio")


@dataclass
class PullReport:
    """What a pull did."""

    tasks: int = 0
    decided: int = 0
    stored: int = 0
    updated: int = 0
    returned: int = 0
    unchanged: int = 0
    retried: int = 0
    rejected: list[str] = field(default_factory=list)
    cursors: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "tasks": self.tasks,
            "decided": self.decided,
            "stored": self.stored,
            "updated": self.updated,
            "returned": self.returned,
            "unchanged": self.unchanged,
            "retried": self.retried,
            "rejected": list(self.rejected),
            "cursors": dict(self.cursors),
        }

    def add(self, other: PullReport) -> None:
        """Count `other`'s work in this report too."""
        self.decided += other.decided
        self.stored += other.stored
        self.updated += other.updated
        self.returned += other.returned
        self.unchanged += other.unchanged
        self.rejected.extend(other.rejected)


def cursor_name(policy: str, project_id: int) -> str:
    """The `SyncCursor` name of a project's pull position."""
    return f"labelstudio:pull:{policy}:{project_id}"


@dataclass(frozen=True, slots=True)
class _Verdict:
    annotation_id: str
    label: str
    note: str
    reviewer: str
    seconds: float


def _annotator(annotation: dict[str, Any], users: dict[int, str]) -> str:
    """The e-mail (or, lacking one, the name or id) of who made `annotation`."""
    user = annotation.get("completed_by")
    if isinstance(user, dict):
        return str(user.get("email") or user.get("id"))
    if user is None:
        return "unknown"
    try:
        return users.get(int(user), str(user))
    except (TypeError, ValueError):
        return str(user)


def _verdict(annotation: dict[str, Any], users: dict[int, str]) -> _Verdict | None:
    label = None
    notes: list[str] = []
    for result in annotation.get("result") or []:
        value = result.get("value") or {}
        if result.get("from_name") == VERDICT_FIELD and value.get("choices"):
            label = str(value["choices"][0])
        elif result.get("from_name") == NOTE_FIELD and value.get("text"):
            notes.extend(str(t) for t in value["text"])
    if label is None:
        return None
    return _Verdict(
        annotation_id=str(annotation["id"]),
        label=label,
        note="\n".join(notes),
        reviewer=open_mode_actor(_annotator(annotation, users)),
        seconds=round(max(float(annotation.get("lead_time") or 0.0), 0.0), 3),
    )


def _held(item: Item) -> bool:
    return item.status == ItemStatus.CLAIMED and item.claimed_by == LS_REVIEWER


def _guideline_of(queue: ReviewQueue, item: Item) -> Guideline:
    return queue.guidelines.get(item.policy or policy_of_queue(item.queue))


def _claim_as(item: Item, verdict: _Verdict, now: datetime) -> Claim:
    """The Label Studio lease on `item`, as a claim of the annotator who decided it."""
    assert item.id is not None and item.claim_token is not None
    if item.lease_expires_at is None or item.lease_expires_at <= now:
        item.lease_expires_at = now + timedelta(seconds=60)
    return Claim(
        item_id=item.id,
        reviewer=verdict.reviewer,
        token=item.claim_token,
        queue=item.queue,
        claimed_at=now - timedelta(seconds=verdict.seconds),
        lease_expires_at=item.lease_expires_at,
        priority=item.priority,
        breakdown=item.priority_breakdown,
        item=ItemPublic.model_validate(item, from_attributes=True),
    )


def _lease_again(session: Session, item: Item, now: datetime) -> None:
    """Put a pending item (skipped earlier, or its lease ran out) back in Label Studio's hands."""
    import secrets

    item.status = ItemStatus.CLAIMED
    item.claimed_by = LS_REVIEWER
    item.claim_token = secrets.token_hex(16)
    item.claimed_at = now
    item.lease_expires_at = now + timedelta(seconds=60)
    item.updated_at = now
    session.flush()
    record_event(
        session,
        actor=LS_REVIEWER,
        event="claimed",
        at=now,
        item_id=item.id,
        before={"status": "pending"},
        after={"status": "claimed"},
        detail={"reason": "annotation arrived for a pending item"},
    )


def _store_extra(
    session: Session, *, item: Item, guideline: Guideline, verdict: _Verdict, now: datetime
) -> Decision:
    """Keep an annotation that does not decide the item (agreement needs it)."""
    label = guideline.label(verdict.label)
    decision = Decision(
        item_id=item.id or 0,
        reviewer=verdict.reviewer,
        label=label.id,
        action=label.action.value,
        note=verdict.note,
        guideline_id=guideline.id,
        guideline_version=guideline.version,
        seconds_spent=verdict.seconds,
        decided_at=now,
        origin=ORIGIN,
        kind="second_review",
        external_ref=verdict.annotation_id,
    )
    session.add(decision)
    session.flush()
    record_event(
        session,
        actor=verdict.reviewer,
        event="labelstudio_annotation",
        at=now,
        item_id=item.id,
        after={"label": label.id},
        detail={"decision_id": decision.id, "annotation_id": verdict.annotation_id},
    )
    return decision


def _supersede(
    session: Session,
    *,
    queue: ReviewQueue,
    item: Item,
    old: Decision,
    verdict: _Verdict,
    now: datetime,
) -> None:
    """An annotation changed: a new active decision replaces `old`."""
    guideline = _guideline_of(queue, item)
    label = guideline.label(verdict.label)
    old.status = DecisionStatus.SUPERSEDED
    new = Decision(
        item_id=old.item_id,
        reviewer=verdict.reviewer,
        label=label.id,
        action=label.action.value,
        note=verdict.note,
        guideline_id=guideline.id,
        guideline_version=guideline.version,
        seconds_spent=verdict.seconds,
        decided_at=now,
        origin=ORIGIN,
        kind=old.kind,
        external_ref=verdict.annotation_id,
    )
    session.add(new)
    session.flush()
    deciding = old.kind != "second_review"
    cancelled: list[int | None] = []
    reversal_id = action_id = None
    before = {"status": item.status, "queue": item.queue, "label": item.final_label}
    if deciding:
        actions = list(
            session.scalars(
                select(OutboundAction)
                .where(col(OutboundAction.decision_id) == old.id)
                .with_for_update()
            )
        )
        for action in actions:
            if action.status == ActionStatus.PENDING and action.attempts == 0:
                action.status = ActionStatus.CANCELLED
                action.last_error = "cancelled: the annotation was changed in Label Studio"
                action.updated_at = now
                cancelled.append(action.id)
            elif action.status in (ActionStatus.SENT, ActionStatus.DONE, ActionStatus.PENDING):
                reverse = REVERSAL_OF.get(Action(action.action))
                if reverse is not None:
                    outbound = new_outbound_action(
                        item=item,
                        decision=new,
                        action=reverse,
                        reason=f"reversal: annotation changed to {label.title}",
                        now=now,
                        reverses_id=action.id,
                    )
                    session.add(outbound)
                    session.flush()
                    reversal_id = outbound.id
        if label.action == Action.ESCALATE and not is_senior_queue(item.queue):
            item.queue = senior_queue(guideline.id)
            item.status = ItemStatus.PENDING
            item.escalated = True
            item.final_label = None
            item.decided_at = None
        elif label.action != Action.ESCALATE:
            if (
                item.status == ItemStatus.PENDING
                and is_senior_queue(item.queue)
                and (old.action == Action.ESCALATE.value)
            ):
                item.queue = policy_of_queue(item.queue)
                item.escalated = False
            if item.status != ItemStatus.CLAIMED:
                item.status = ItemStatus.DECIDED
                item.final_label = label.id
                item.decided_at = now
                if label.action != Action.NONE:
                    outbound = new_outbound_action(
                        item=item,
                        decision=new,
                        action=label.action.value,
                        reason=label.title,
                        now=now,
                    )
                    session.add(outbound)
                    session.flush()
                    action_id = outbound.id
        item.updated_at = now
    session.flush()
    record_event(
        session,
        actor=verdict.reviewer,
        event="decision_superseded",
        at=now,
        item_id=item.id,
        before=before | {"decision_id": old.id, "decision_label": old.label},
        after={"status": item.status, "queue": item.queue, "label": label.id},
        detail={
            "decision_id": new.id,
            "annotation_id": verdict.annotation_id,
            "cancelled_actions": cancelled,
            "reversal_action_id": reversal_id,
            "outbound_action_id": action_id,
        },
    )


def _return_to_queue(
    session: Session,
    *,
    item: Item,
    annotation: dict[str, Any],
    now: datetime,
    actor: str,
    mapping: LabelStudioTask,
) -> bool:
    """A skipped annotation: the item goes back to the moderators."""
    if not _held(item):
        return False
    item.status = ItemStatus.PENDING
    item.claimed_by = None
    item.claim_token = None
    item.claimed_at = None
    item.lease_expires_at = None
    item.updated_at = now
    mapping.state = TaskState.RETURNED
    mapping.updated_at = now
    session.flush()
    record_event(
        session,
        actor=actor,
        event="released",
        at=now,
        item_id=item.id,
        before={"status": "claimed"},
        after={"status": "pending"},
        detail={"labelstudio": "skipped", "annotation_id": str(annotation.get("id"))},
    )
    return True


def _apply(
    session: Session,
    *,
    queue: ReviewQueue,
    item: Item,
    mapping: LabelStudioTask,
    annotation: dict[str, Any],
    attempt: Attempt,
    earlier: LabelStudioRefusal | None,
    existing: dict[str | None, Decision],
    access: PullAccess,
    users: dict[int, str],
    report: PullReport,
    now: datetime,
) -> None:
    """Apply one annotation to `item`; raises `Refused` when its annotator may not."""
    if annotation.get("was_cancelled"):
        if str(attempt.annotation_id) not in existing and _held(item):
            actor = access.act_as(attempt, Permission.RELEASE, earlier)
            if _return_to_queue(
                session, item=item, annotation=annotation, now=now, actor=actor, mapping=mapping
            ):
                report.returned += 1
        return
    verdict = _verdict(annotation, users)
    if verdict is None:
        return
    try:
        with session.begin_nested():
            old = existing.get(verdict.annotation_id)
            if old is not None and old.label == verdict.label and old.note == verdict.note:
                report.unchanged += 1
                return
            verdict = replace(verdict, reviewer=access.act_as(attempt, Permission.DECIDE, earlier))
            if old is not None:
                _supersede(session, queue=queue, item=item, old=old, verdict=verdict, now=now)
                report.updated += 1
                return
            if item.status == ItemStatus.PENDING and mapping.state in (
                TaskState.OPEN,
                TaskState.RETURNED,
            ):
                _lease_again(session, item, now)
            if _held(item):
                claim = _claim_as(item, verdict, now)
                session.flush()  # decide() reads the item row with its own statement
                made = decide(
                    session,
                    claim=claim,
                    label=verdict.label,
                    note=verdict.note,
                    guidelines=queue.guidelines,
                    now=now,
                    origin=ORIGIN,
                )
                session.refresh(item)  # decide() updated the row behind the ORM
                stored = session.get(Decision, made.id)
                assert stored is not None
                stored.external_ref = verdict.annotation_id
                mapping.state = TaskState.DONE
                mapping.updated_at = now
                session.flush()
                report.decided += 1
            else:
                _store_extra(
                    session,
                    item=item,
                    guideline=_guideline_of(queue, item),
                    verdict=verdict,
                    now=now,
                )
                report.stored += 1
    except UnknownLabel as exc:
        report.rejected.append(f"task {attempt.task_id} annotation {verdict.annotation_id}: {exc}")
        record_event(
            session,
            actor=verdict.reviewer,
            event="labelstudio_annotation_rejected",
            at=now,
            item_id=item.id,
            detail={"annotation_id": verdict.annotation_id, "reason": str(exc)},
        )


def _process_task(
    session: Session,
    *,
    queue: ReviewQueue,
    task: dict[str, Any],
    users: dict[int, str],
    report: PullReport,
    access: PullAccess,
) -> None:
    data = task.get("data") or {}
    item_id = data.get(ITEM_ID_KEY)
    if not isinstance(item_id, int):
        return
    mapping = session.get(LabelStudioTask, item_id, with_for_update=True)
    item = session.scalars(select(Item).where(col(Item.id) == item_id).with_for_update()).first()
    if mapping is None or item is None or mapping.task_id not in (None, int(task["id"])):
        return
    if mapping.task_id is None:
        mapping.task_id = int(task["id"])
        mapping.state = TaskState.OPEN
    now = queue.clock()
    existing: dict[str | None, Decision] = {
        d.external_ref: d
        for d in session.scalars(
            select(Decision).where(
                col(Decision.item_id) == item_id,
                col(Decision.origin) == ORIGIN,
                col(Decision.status) == DecisionStatus.ACTIVE,
            )
        )
    }
    earlier = access.earlier(item_id)
    annotations = sorted(task.get("annotations") or [], key=lambda a: int(a.get("id", 0)))
    for annotation in annotations:
        attempt = Attempt(
            project_id=mapping.project_id,
            task_id=int(task["id"]),
            annotation_id=int(annotation.get("id", 0)),
            email=_annotator(annotation, users),
            item_id=item_id,
            queue=item.queue,
        )
        before = earlier.pop(attempt.annotation_id, None)
        try:
            _apply(
                session,
                queue=queue,
                item=item,
                mapping=mapping,
                annotation=annotation,
                attempt=attempt,
                earlier=before,
                existing=existing,
                access=access,
                users=users,
                report=report,
                now=now,
            )
        except Refused as refused:
            access.remember(attempt, refused.reason, before)
            report.rejected.append(f"{attempt.describe()}: {refused.reason}")
        else:
            if before is not None:
                access.forget([before])
    access.forget(earlier.values())  # refused annotations since deleted in Label Studio


def _prefetched(pages: Iterator[list[dict[str, Any]]]) -> Iterator[list[dict[str, Any]]]:
    """`pages`, with the next one fetched from Label Studio while this one is applied."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ls-pull") as pool:
        ahead = pool.submit(next, pages, None)
        while True:
            page = ahead.result()
            if page is None:
                return
            ahead = pool.submit(next, pages, None)
            yield page


def _learn_users(
    client: LabelStudioClient, page: list[dict[str, Any]], users: dict[int, str]
) -> None:
    """Fetch Label Studio's users when `page` names one not in `users` yet."""
    wanted = {
        int(a["completed_by"])
        for task in page
        for a in task.get("annotations") or []
        if isinstance(a.get("completed_by"), int)
    }
    if wanted - users.keys():
        users.update(client.user_emails())


def _apply_page(
    queue: ReviewQueue,
    page: list[dict[str, Any]],
    users: dict[int, str],
    *,
    cursor: tuple[str, datetime] | None,
) -> PullReport:
    """Apply a page of tasks in one transaction, moving `(name, newest)` cursor with it."""

    def work(session: Session) -> PullReport:
        counts = PullReport()  # fresh on each attempt: run() may retry a deadlock
        access = PullAccess(session, queue.clock())
        for task in page:
            _process_task(
                session, queue=queue, task=task, users=users, report=counts, access=access
            )
        if cursor is not None:
            name, newest = cursor
            row = session.get(SyncCursor, name, with_for_update=True)
            if row is None:
                session.add(
                    SyncCursor(name=name, value=format_ls_time(newest), updated_at=queue.clock())
                )
            elif parse_ls_time(row.value) < newest:
                row.value = format_ls_time(newest)
                row.updated_at = queue.clock()
        return counts

    return queue.run(work)


def _retry_refused(
    queue: ReviewQueue,
    client: LabelStudioClient,
    project: LabelStudioProject,
    *,
    report: PullReport,
    users: dict[int, str],
    page_size: int,
) -> dict[int, Any]:
    """Fetch again, by id, the tasks with refused annotations, and apply what access now
    allows (the cursor has usually moved past them). Returns each task's `updated_at`."""
    project_id = project.project_id
    waiting = queue.run(lambda s: refused_task_ids(s, project_id))
    found: dict[int, Any] = {}
    for start in range(0, len(waiting), _IDS_PER_REQUEST):
        chunk = waiting[start : start + _IDS_PER_REQUEST]
        pages = client.iter_tasks(
            project_id, ids=chunk, fields="all", page_size=min(page_size, len(chunk))
        )
        for page in pages:
            _learn_users(client, page, users)
            found.update((int(task["id"]), task.get("updated_at")) for task in page)
            report.add(_apply_page(queue, page, users, cursor=None))
            report.tasks += len(page)
            report.retried += len(page)
    gone = set(waiting) - found.keys()
    if gone:  # deleted in Label Studio: nothing left to apply
        queue.run(lambda s: forget_tasks(s, project_id, gone))
    return found


def _pull_project(
    queue: ReviewQueue,
    client: LabelStudioClient,
    project: LabelStudioProject,
    *,
    report: PullReport,
    page_size: int,
) -> None:
    users: dict[int, str] = {}
    retried = _retry_refused(
        queue, client, project, report=report, users=users, page_size=page_size
    )
    name = cursor_name(project.policy, project.project_id)
    start = queue.run(lambda s: s.get(SyncCursor, name))
    filters = None
    if start is not None:
        since = parse_ls_time(start.value) - OVERLAP
        filters = [
            {
                "filter": "filter:tasks:updated_at",
                "operator": "greater",
                "type": "Datetime",
                "value": format_ls_time(since),
            }
        ]
    pages = client.iter_tasks(
        project.project_id,
        filters=filters,
        ordering="tasks:updated_at",
        fields="all",
        page_size=page_size,
    )
    for page in _prefetched(pages):
        _learn_users(client, page, users)
        newest = max(parse_ls_time(task["updated_at"]) for task in page)
        # A task retried above and unchanged since needs no second pass.
        fresh = [t for t in page if retried.get(int(t["id"]), False) != t.get("updated_at")]
        report.add(_apply_page(queue, fresh, users, cursor=(name, newest)))
        report.cursors[name] = format_ls_time(newest)
        report.tasks += len(page)


def pull(
    queue: ReviewQueue,
    client: LabelStudioClient,
    *,
    policy: str | None = None,
    page_size: int = 1000,
) -> PullReport:
    """Fetch new and updated annotations of every project (or `policy`'s) and apply them.

    Incremental: only tasks updated since the last pull (minus a second of overlap; an
    annotation already applied is recognised by its id and left alone). Label Studio
    being down raises `IntegrationError` with the cursor where the last page left it.
    """
    projects = queue.run(
        lambda s: list(
            s.scalars(select(LabelStudioProject).order_by(col(LabelStudioProject.policy))).all()
        )
    )
    if policy is not None:
        projects = [p for p in projects if p.policy == policy]
        if not projects:
            queue.guidelines.get(policy)
            raise NotFound(
                f"policy {policy!r} has no Label Studio project yet: run "
                f"`modqueue labelstudio setup --policy {policy}` first"
            )
    report = PullReport()
    for project in projects:
        _pull_project(queue, client, project, report=report, page_size=page_size)
    return report
