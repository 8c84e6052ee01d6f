"""`modqueue labelstudio pull`: annotations back into decisions, incrementally.

Tasks are read in pages ordered by `updated_at`, from a cursor kept in the database
(`SyncCursor`, one per project); a page's decisions and the cursor move are committed
together. Each annotation goes through the queue's decision pipeline (the same path as the
terminal UI: guideline version, audit event, outbound action), which writes every row:

* the first final annotation on an item Label Studio holds decides it (`decide_held`,
  after `hold_for` when the item had gone back to pending); its reviewer is
  the reviewer linked to the annotator's e-mail (`ls:<annotator e-mail>` in open mode),
  its seconds spent the annotation's lead time, its `external_ref` the annotation id;
* later annotations of the same task are stored too (`record_annotation`, `kind =
  second_review`), for agreement, without a second action;
* an updated annotation supersedes its decision (`supersede_decision`; for the deciding
  one, the item's label and pending action too);
* a cancelled (skipped) annotation gives the item back to the moderators' queue
  (`return_held`);
* a verdict is the label id whether the annotation carries the Choice's alias (Label
  Studio's frontend) or its value (scripts, ML backends);
* an annotation whose annotator ticked "show media" is audited as a reveal (`revealed`),
  once, as in the terminal UI.

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

from modqueue._exceptions import InvalidState, NotFound, UnknownLabel
from modqueue._fields import fields_dict
from modqueue.guidelines import Action
from modqueue.integrations.labelstudio._client import (
    LabelStudioClient,
    format_ls_time,
    parse_ls_time,
)
from modqueue.integrations.labelstudio._labeling import ITEM_ID_KEY, label_id_of_choice
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
    refused_task_ids,
)
from modqueue.integrations.labelstudio._pull_changes import (
    ORIGIN,
    annotator_of,
    guideline_of,
    held,
    media_revealed,
    record_media_reveal,
    verdict_of,
)
from modqueue.integrations.labelstudio._push import LS_REVIEWER
from modqueue.queue import (
    Annotation,
    Decision,
    DecisionStatus,
    Item,
    ItemStatus,
    Permission,
    ReviewQueue,
    SyncCursor,
    decide_cluster,
    decide_held,
    hold_for,
    record_annotation,
    record_event,
    return_held,
    supersede_decision,
)

__all__ = ["ORIGIN", "PullReport", "cursor_name", "pull"]

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
    cluster_members: int = 0
    """Further members of the decided items' clusters that took the same label."""
    rejected: list[str] = field(default_factory=list)
    cursors: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return fields_dict(self, rejected=list(self.rejected), cursors=dict(self.cursors))

    def add(self, other: PullReport) -> None:
        """Count `other`'s work in this report too."""
        self.decided += other.decided
        self.stored += other.stored
        self.updated += other.updated
        self.returned += other.returned
        self.unchanged += other.unchanged
        self.cluster_members += other.cluster_members
        self.rejected.extend(other.rejected)


def cursor_name(policy: str, project_id: int) -> str:
    """The `SyncCursor` name of a project's pull position."""
    return f"labelstudio:pull:{policy}:{project_id}"


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
        if str(attempt.annotation_id) not in existing and held(item):
            actor = access.act_as(attempt, Permission.RELEASE, earlier)
            assert item.id is not None
            if return_held(
                session,
                item_id=item.id,
                holder=LS_REVIEWER,
                actor=actor,
                detail={"labelstudio": "skipped", "annotation_id": str(annotation.get("id"))},
                now=now,
            ):
                mapping.state = TaskState.RETURNED
                mapping.updated_at = now
                session.flush()
                report.returned += 1
                if media_revealed(annotation):
                    record_media_reveal(
                        session,
                        item=item,
                        annotation_id=str(attempt.annotation_id),
                        reviewer=actor,
                        now=now,
                    )
        return
    verdict = verdict_of(annotation, users)
    if verdict is None:
        return
    assert item.id is not None
    verdict = replace(verdict, label=label_id_of_choice(guideline_of(queue, item), verdict.label))
    try:
        with session.begin_nested():
            old = existing.get(verdict.annotation_id)
            if old is not None and old.label == verdict.label and old.note == verdict.note:
                unchanged, revealer = True, old.reviewer
            else:
                acting = access.act_as(attempt, Permission.DECIDE, earlier)
                verdict = replace(verdict, reviewer=acting)
                unchanged, revealer = False, verdict.reviewer
            if verdict.revealed:
                record_media_reveal(
                    session,
                    item=item,
                    annotation_id=verdict.annotation_id,
                    reviewer=revealer,
                    now=now,
                )
            if unchanged:
                report.unchanged += 1
                return
            made = Annotation(
                reviewer=verdict.reviewer,
                label=verdict.label,
                note=verdict.note,
                seconds_spent=verdict.seconds,
                origin=ORIGIN,
                external_ref=verdict.annotation_id,
            )
            rules = queue.guidelines
            if old is not None:
                assert old.id is not None
                supersede_decision(
                    session, decision_id=old.id, annotation=made, guidelines=rules, now=now
                )
                report.updated += 1
                return
            if item.status == ItemStatus.PENDING and mapping.state in (
                TaskState.OPEN,
                TaskState.RETURNED,
            ):
                hold_for(
                    session,
                    item_id=item.id,
                    holder=LS_REVIEWER,
                    reason="annotation arrived for a pending item",
                    now=now,
                )
            if held(item):
                decide_held(
                    session,
                    item_id=item.id,
                    annotation=made,
                    guidelines=rules,
                    quality=queue.quality,
                    now=now,
                )
                mapping.state = TaskState.DONE
                mapping.updated_at = now
                session.flush()
                report.decided += 1
                report.cluster_members += _decide_cluster_of(
                    session, queue=queue, item=item, annotation=made, now=now
                )
            else:
                record_annotation(
                    session, item_id=item.id, annotation=made, guidelines=rules, now=now
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


def _decide_cluster_of(
    session: Session, *, queue: ReviewQueue, item: Item, annotation: Annotation, now: datetime
) -> int:
    """The push sends one representative per cluster: the label that decided it applies
    to the rest of its cluster as a cluster decision by the same annotator (the rules of
    `decide_cluster`: each member its own decision, action and audit event; claimed,
    decided or in-review members left alone). The annotator was already authorized to
    decide in the item's queue. Returns the further members decided."""
    if item.cluster_id is None:
        return 0
    label = guideline_of(queue, item).label(annotation.label)
    if label.action == Action.ESCALATE:
        return 0
    try:
        made = decide_cluster(
            session,
            cluster_id=item.cluster_id,
            reviewer=annotation.reviewer,
            label=label.id,
            guidelines=queue.guidelines,
            now=now,
            note=annotation.note,
            origin=ORIGIN,
            quality=queue.quality,
        )
    except InvalidState:  # no other member open to a decision
        return 0
    return made.member_count


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
            email=annotator_of(annotation, users),
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
        access.preload(
            t["data"][ITEM_ID_KEY]
            for t in page
            if isinstance((t.get("data") or {}).get(ITEM_ID_KEY), int)
        )
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
