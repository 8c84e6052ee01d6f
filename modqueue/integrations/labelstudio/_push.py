"""`modqueue labelstudio push`: lease a share of the queue to Label Studio, in batches.

Each batch is leased to the reviewer `labelstudio` and written down (state `importing`,
with a batch id) in one transaction before the import request is sent; the task ids come
back in the same order and are recorded after. A batch whose answer was lost is found
again by its batch id (kept in each task's data) before anything is sent twice.
"""

from __future__ import annotations

import logging
import secrets
import time
import zlib
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, exists, insert, or_, select, update
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from modqueue._exceptions import ConfigError, IntegrationError
from modqueue._fields import fields_dict
from modqueue._sections.labelstudio import LabelStudioConfig
from modqueue.guidelines import Guideline
from modqueue.integrations.labelstudio._client import LabelStudioClient
from modqueue.integrations.labelstudio._labeling import (
    BATCH_KEY,
    ITEM_ID_KEY,
    TEXT_FIELD,
    VERDICT_FIELD,
    task_for_item,
)
from modqueue.integrations.labelstudio._models import (
    LabelStudioProject,
    LabelStudioTask,
    TaskState,
)
from modqueue.integrations.labelstudio._setup import project_for, setup_project
from modqueue.learning import ActiveModel, active_model_for, rank_for_labeling
from modqueue.queue import (
    AuditRecord,
    Item,
    ItemStatus,
    ReviewQueue,
    hold_batch_for,
    policy_of_queue,
    record_events,
)

__all__ = [
    "LS_REVIEWER",
    "PushReport",
    "in_share",
    "model_prediction",
    "push",
    "withdraw_decided",
]

LS_REVIEWER = "labelstudio"
SHARE_BUCKETS = 10_000
CANDIDATES = 2000
log = logging.getLogger("modqueue.labelstudio")


@dataclass
class PushReport:
    """What a push did."""

    pushed: int = 0
    reconciled: int = 0
    withdrawn: int = 0
    batches: int = 0
    by_policy: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return fields_dict(self, by_policy=dict(self.by_policy))


def in_share(source: str, external_id: str, share: float) -> bool:
    """Whether an item falls in the routed `share` (stable: the same item, the same answer)."""
    if share >= 1.0:
        return True
    bucket = zlib.crc32(f"{source}\x00{external_id}".encode()) % SHARE_BUCKETS
    return bucket < share * SHARE_BUCKETS


def _held_by_labelstudio(item: Item) -> bool:
    return item.status == ItemStatus.CLAIMED and item.claimed_by == LS_REVIEWER


# -- withdrawing ----------------------------------------------------------------------------


def withdraw_decided(queue: ReviewQueue, client: LabelStudioClient) -> int:
    """Delete the tasks of items that left Label Studio's hands (decided, taken or expired
    elsewhere); the number withdrawn."""
    rows = queue.run(
        lambda s: s.execute(
            select(col(LabelStudioTask.item_id), col(LabelStudioTask.task_id))
            .join(Item, col(Item.id) == col(LabelStudioTask.item_id))
            .where(
                col(LabelStudioTask.state) == TaskState.OPEN,
                ~((col(Item.status) == ItemStatus.CLAIMED) & (col(Item.claimed_by) == LS_REVIEWER)),
            )
        ).all()
    )
    withdrawn = 0
    for item_id, task_id in rows:
        if task_id is not None:
            client.delete_task(task_id)

        def mark(session: Session, item_id: int = item_id, task_id: int | None = task_id) -> int:
            row = session.get(LabelStudioTask, item_id, with_for_update=True)
            item = session.get(Item, item_id)
            if row is None or row.state != TaskState.OPEN or item is None:
                return 0
            if _held_by_labelstudio(item):
                return 0
            now = queue.clock()
            row.state = TaskState.WITHDRAWN
            row.updated_at = now
            record_events(
                session,
                [
                    AuditRecord(
                        LS_REVIEWER,
                        "labelstudio_withdrawn",
                        now,
                        item_id,
                        {"task_id": task_id},
                        {"item_status": item.status},
                    )
                ],
            )
            return 1

        withdrawn += queue.run(mark)
    return withdrawn


# -- the model's pre-annotations -------------------------------------------------------------


def model_prediction(signal: str, score: float, label: str) -> dict[str, Any]:
    """A Label Studio prediction (pre-annotation) of the `verdict` choice by a model."""
    return {
        "model_version": signal,
        "score": round(score, 4),
        "result": [
            {
                "from_name": VERDICT_FIELD,
                "to_name": TEXT_FIELD,
                "type": "choices",
                "value": {"choices": [label]},
            }
        ],
    }


def _tasks(
    items: Sequence[Item], guideline: Guideline, batch: str, model: ActiveModel | None
) -> list[dict[str, Any]]:
    tasks = [task_for_item(item, guideline, batch) for item in items]
    if model is not None and tasks:
        for task, p in zip(tasks, model.predict([i.text for i in items]), strict=True):
            task["predictions"] = [model_prediction(model.signal, p.score, p.label)]
    return tasks


# -- leasing a batch ------------------------------------------------------------------------


def _lease_batch(
    session: Session,
    *,
    queue_name: str,
    project_id: int,
    share: float,
    size: int,
    lease_seconds: float,
    now: datetime,
    batch: str,
    strategy: str = "priority",
    model: ActiveModel | None = None,
) -> list[Item]:
    """Lease up to `size` pending items of `queue_name` to Label Studio; the items.

    `strategy` other than `priority` reads up to `CANDIDATES` pending items (highest
    priority first) and sends those `rank_for_labeling` puts first. One member per
    cluster: an item whose cluster already has a member held by Label Studio, or one
    chosen earlier in this batch, stays home (the pulled label applies to the whole
    cluster, see `_pull`)."""
    already = exists().where(col(LabelStudioTask.item_id) == col(Item.id))
    other = aliased(Item)
    cluster_out = exists().where(
        col(other.cluster_id) == col(Item.cluster_id),
        col(other.status) == ItemStatus.CLAIMED,
        col(other.claimed_by) == LS_REVIEWER,
    )
    busy = or_(already, cluster_out)
    clusters_chosen: set[int] = set()

    def first_of_cluster(cluster_id: int | None) -> bool:
        if cluster_id is None:
            return True
        if cluster_id in clusters_chosen:
            return False
        clusters_chosen.add(cluster_id)
        return True

    chosen: list[int] = []
    last: tuple[float, int] | None = None
    if strategy != "priority":
        stmt = (
            select(
                col(Item.id),
                col(Item.source),
                col(Item.external_id),
                col(Item.text),
                col(Item.cluster_id),
            )
            .where(col(Item.status) == ItemStatus.PENDING, col(Item.queue) == queue_name, ~busy)
            .order_by(col(Item.priority).desc(), col(Item.id))
            .limit(CANDIDATES)
        )
        if session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True, of=Item)
        candidates = [
            (item_id, text)
            for item_id, source, external_id, text, cluster_id in session.execute(stmt).all()
            if in_share(source, external_id, share) and first_of_cluster(cluster_id)
        ]
        chosen = rank_for_labeling(strategy, candidates, model=model)[:size]
    while strategy == "priority" and len(chosen) < size:
        stmt = select(
            col(Item.id),
            col(Item.source),
            col(Item.external_id),
            col(Item.priority),
            col(Item.cluster_id),
        )
        stmt = stmt.where(
            col(Item.status) == ItemStatus.PENDING, col(Item.queue) == queue_name, ~busy
        )
        if last is not None:
            stmt = stmt.where(
                (col(Item.priority) < last[0])
                | ((col(Item.priority) == last[0]) & (col(Item.id) > last[1]))
            )
        stmt = stmt.order_by(col(Item.priority).desc(), col(Item.id)).limit(max(size * 2, 100))
        if session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True, of=Item)
        rows = session.execute(stmt).all()
        if not rows:
            break
        for item_id, source, external_id, priority, cluster_id in rows:
            last = (priority, item_id)
            if in_share(source, external_id, share) and first_of_cluster(cluster_id):
                chosen.append(item_id)
                if len(chosen) >= size:
                    break
    if not chosen:
        return []
    leased = hold_batch_for(
        session,
        item_ids=chosen,
        holder=LS_REVIEWER,
        lease_seconds=lease_seconds,
        detail={"labelstudio_batch": batch, "project_id": project_id},
        now=now,
    )
    rank = {item_id: n for n, item_id in enumerate(chosen)}
    leased.sort(key=lambda item: rank[item.id or 0])
    session.execute(
        insert(LabelStudioTask),
        [
            {
                "item_id": item.id,
                "project_id": project_id,
                "batch": batch,
                "state": TaskState.IMPORTING.value,
                "task_id": None,
                "pushed_at": now,
                "updated_at": now,
            }
            for item in leased
        ],
    )
    return leased


def _record_task_ids(
    queue: ReviewQueue, batch: str, mapping: dict[int, int], *, reconciled: bool = False
) -> None:
    def work(session: Session) -> None:
        now = queue.clock()
        table = LabelStudioTask.__table__  # type: ignore[attr-defined]
        session.execute(
            update(table)
            .where(
                table.c.item_id == bindparam("b_item"),
                table.c.batch == batch,
                table.c.state == TaskState.IMPORTING.value,
            )
            .values(task_id=bindparam("b_task"), state=TaskState.OPEN.value, updated_at=now),
            [{"b_item": item_id, "b_task": task_id} for item_id, task_id in mapping.items()],
        )
        if reconciled:
            record_events(
                session,
                [
                    AuditRecord(
                        LS_REVIEWER,
                        "labelstudio_reconciled",
                        now,
                        item_id,
                        None,
                        {"task_id": task_id},
                        {"labelstudio_batch": batch},
                    )
                    for item_id, task_id in mapping.items()
                ],
            )

    queue.run(work)


def _find_batch(client: LabelStudioClient, project_id: int, batch: str) -> dict[int, int]:
    """Item id -> task id of the tasks of `batch` already in Label Studio."""
    found: dict[int, int] = {}
    filters = [
        {
            "filter": f"filter:tasks:data.{BATCH_KEY}",
            "operator": "equal",
            "type": "String",
            "value": batch,
        }
    ]
    for page in client.iter_tasks(project_id, filters=filters):
        for task in page:
            data = task.get("data") or {}
            item_id = data.get(ITEM_ID_KEY)
            if data.get(BATCH_KEY) == batch and isinstance(item_id, int):
                found.setdefault(item_id, int(task["id"]))
    return found


def _send_batch(
    queue: ReviewQueue,
    client: LabelStudioClient,
    *,
    project_id: int,
    batch: str,
    tasks: Sequence[dict[str, Any]],
) -> int:
    """Import `tasks` (all of `batch`), reconciling after a failure; the number imported."""
    remaining = list(tasks)
    attempts = client.connection.max_attempts
    reconciled = 0
    for attempt in range(1, attempts + 1):
        try:
            ids = client.import_tasks(project_id, remaining)
        except IntegrationError:
            if attempt >= attempts:
                raise
            time.sleep(client.connection.backoff_s * (2 ** (attempt - 1)))
            # Did it land after all? (The answer may have been lost, not the request.)
            found = _find_batch(client, project_id, batch)
            if found:
                _record_task_ids(queue, batch, found, reconciled=True)
                reconciled += len(found)
            remaining = [t for t in remaining if t["data"][ITEM_ID_KEY] not in found]
            if not remaining:
                return reconciled
            continue
        _record_task_ids(
            queue,
            batch,
            {t["data"][ITEM_ID_KEY]: tid for t, tid in zip(remaining, ids, strict=True)},
        )
        return reconciled + len(ids)
    raise AssertionError("unreachable")


def _reconcile_importing(queue: ReviewQueue, client: LabelStudioClient) -> tuple[int, int]:
    """Finish batches left `importing` by an earlier push: `(found, sent again)`, the
    tasks that had landed after all and those imported now."""
    rows = queue.run(
        lambda s: s.execute(
            select(
                col(LabelStudioTask.batch),
                col(LabelStudioTask.project_id),
                col(LabelStudioTask.item_id),
            ).where(col(LabelStudioTask.state) == TaskState.IMPORTING)
        ).all()
    )
    batches: dict[tuple[str, int], list[int]] = defaultdict(list)
    for batch, project_id, item_id in rows:
        batches[(batch, project_id)].append(item_id)
    total = resent = 0
    for (batch, project_id), item_ids in batches.items():
        found = _find_batch(client, project_id, batch)
        if found:
            _record_task_ids(queue, batch, found, reconciled=True)
            total += len(found)
        missing = [i for i in item_ids if i not in found]
        if not missing:
            continue

        def load(session: Session, missing: list[int] = missing) -> list[Item]:
            return list(session.scalars(select(Item).where(col(Item.id).in_(missing))).all())

        items = queue.run(load)
        tasks = []
        for item in items:
            if not _held_by_labelstudio(item):
                continue
            guideline = queue.guidelines.get(item.policy or policy_of_queue(item.queue))
            tasks.append(task_for_item(item, guideline, batch))
        if tasks:
            resent += _send_batch(queue, client, project_id=project_id, batch=batch, tasks=tasks)
    return total, resent


def _count(report: PushReport, policy: str, sent: int) -> None:
    report.pushed += sent
    report.batches += 1
    report.by_policy[policy] = report.by_policy.get(policy, 0) + sent


def push(
    queue: ReviewQueue,
    client: LabelStudioClient,
    config: LabelStudioConfig,
    *,
    policy: str | None = None,
    limit: int | None = None,
    strategy: str = "priority",
) -> PushReport:
    """Send pending items of the routed queues to Label Studio.

    First withdraws the tasks of items decided elsewhere and finishes batches an earlier
    push left half-done; then leases up to `limit` new items (default: all that fall in
    the configured share) in batches of `batch_size`, picked by `strategy` (`priority`:
    the queue's order; `uncertainty`: those the policy's active model is least sure of;
    `random`). Each task carries a prediction: the active model's label and score when
    the policy has one, else the strongest signal's. Creates a queue's project first
    when it has none.
    """
    queues = [policy] if policy else list(config.queues)
    if not queues:
        raise ConfigError(
            "no queue is routed to Label Studio: set queues in the [labelstudio] section of "
            "modqueue.toml, or pass --policy"
        )
    for name in queues:
        queue.guidelines.get(policy_of_queue(name))
    report = PushReport()
    report.withdrawn = withdraw_decided(queue, client)
    report.reconciled, report.pushed = _reconcile_importing(queue, client)
    budget = limit if limit is not None else None
    for name in queues:
        guideline = queue.guidelines.get(policy_of_queue(name))

        def load_model(session: Session, policy_id: str = guideline.id) -> ActiveModel | None:
            return active_model_for(session, policy_id)

        model = queue.run(load_model)
        if strategy == "uncertainty" and model is None:
            raise ConfigError(
                f"--strategy uncertainty: policy {guideline.id!r} has no active model "
                "(train and activate one with `modqueue model train` and `model activate`)"
            )

        def find(session: Session, policy_id: str = guideline.id) -> LabelStudioProject | None:
            return project_for(session, policy_id)

        project = queue.run(find)
        project_id = (
            project.project_id
            if project is not None
            else setup_project(
                queue, client, policy=guideline.id, prefix=config.project_prefix
            ).project_id
        )
        # One import in flight while the next batch is leased and built: Label Studio's
        # import is the bottleneck, so the database work hides behind it.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ls-import") as pool:
            in_flight: Future[int] | None = None
            while budget is None or budget > 0:
                size = config.batch_size if budget is None else min(config.batch_size, budget)
                batch = secrets.token_hex(12)

                def lease(
                    session: Session,
                    size: int = size,
                    batch: str = batch,
                    pid: int = project_id,
                    name: str = name,
                    guideline: Guideline = guideline,
                    model: ActiveModel | None = model,
                ) -> list[dict[str, Any]]:
                    items = _lease_batch(
                        session,
                        queue_name=name,
                        project_id=pid,
                        share=config.share,
                        size=size,
                        lease_seconds=config.lease,
                        now=queue.clock(),
                        batch=batch,
                        strategy=strategy,
                        model=model,
                    )
                    return _tasks(items, guideline, batch, model)

                tasks = queue.run(lease)
                if in_flight is not None:
                    _count(report, guideline.id, in_flight.result())
                    in_flight = None
                if not tasks:
                    break
                in_flight = pool.submit(
                    _send_batch, queue, client, project_id=project_id, batch=batch, tasks=tasks
                )
                log.info("Label Studio: sending batch %s (%d tasks) to %s", batch, len(tasks), name)
                if budget is not None:
                    budget -= len(tasks)
            if in_flight is not None:
                _count(report, guideline.id, in_flight.result())
    return report
