"""Label Studio round trip at scale, side by side with the SDK's own calls in the same run.

    eval "$(scripts/ensure-labelstudio)"
    python -m bench.bench_labelstudio [--items 10000] [--batch 2000] [--db sqlite:///x.db]

Starts a real Label Studio 1.23 (the test suite's server helper), then:

1. push: `modqueue labelstudio push` of N pending items (lease, task building, import in
   batches, task ids recorded) against the SDK's own bulk import
   (`projects.import_tasks(..., return_task_ids=True)`) of the same tasks, same batch size,
   into another project. Target: ours within 1.2x.
   The SDK import runs once before and once after ours; the ratio is against their mean.
2. pull: N annotated tasks turned into N decisions (through the queue's decide path)
   against the SDK paging the same tasks with their annotations (`tasks.list`,
   fields=all), which is the read the pull has to do anyway.

The annotations for step 2 are imported with the tasks of a second push (posting 10,000
annotations one by one would take minutes); the pull does not know the difference.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from sqlmodel import col, select

from bench.texts import distinct_text
from modqueue.integrations.labelstudio import (
    LabelStudioClient,
    LabelStudioConfig,
    LabelStudioConnection,
    pull,
    push,
    setup_project,
    task_for_item,
)
from modqueue.queue import ReviewQueue
from modqueue.queue._core.models import Item
from tests.support.labelstudio_server import LabelStudioServer

POLICY = "hate"


def make_items(n: int, prefix: str) -> list[dict[str, Any]]:
    return [
        {
            "source": "bench",
            "external_id": f"{prefix}-{i}",
            "text": distinct_text(i, "synthetic flagged post about some group, for the benchmark"),
            "url": f"https://example.invalid/{prefix}/{i}",
            "policy": POLICY,
            "signals": [{"name": "hate-clf-v1", "score": (i % 100) / 100}],
            "report_count": i % 7,
            "views": i * 13,
            "flagged_at": "2026-11-24T08:00:00Z",
        }
        for i in range(n)
    ]


class AnnotatingClient(LabelStudioClient):
    """Imports each task with an annotation already on it (for the pull benchmark)."""

    user_id: int = 1

    def import_tasks(self, project_id: int, tasks: Any) -> list[int]:
        labels = ["remove-hate", "no-violation", "restrict-borderline"]
        annotated = [
            task
            | {
                "annotations": [
                    {
                        "completed_by": self.user_id,
                        "lead_time": 4.0 + n % 11,
                        "result": [
                            {
                                "from_name": "verdict",
                                "to_name": "text",
                                "type": "choices",
                                "value": {"choices": [labels[n % 3]]},
                            }
                        ],
                    }
                ]
            }
            for n, task in enumerate(tasks)
        ]
        return super().import_tasks(project_id, annotated)


def timed(fn: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=2_000)
    parser.add_argument("--db", default=None, help="database URL (default: a temp SQLite file)")
    parser.add_argument("--only", choices=["push", "pull"], default=None, help="one half only")
    args = parser.parse_args()
    n, batch = args.items, args.batch
    tmp = Path(tempfile.mkdtemp(prefix="bench-ls-"))
    db = args.db or f"sqlite:///{tmp}/bench.db"
    results: dict[str, Any] = {"items": n, "batch": batch, "db": db.split(":")[0]}

    with LabelStudioServer() as server:
        if args.only != "pull":
            bench_push(server, db, n, batch, results)
        if args.only != "push":
            bench_pull(server, args.db or f"sqlite:///{tmp}/pull.db", n, batch, results)
    print(json.dumps(results, indent=2))


def bench_push(
    server: LabelStudioServer, db: str, n: int, batch: int, results: dict[str, Any]
) -> None:
    with ReviewQueue(db) as queue:
        conn = LabelStudioConnection(
            url=server.url, api_key=server.legacy_token, timeout_s=600, max_attempts=3
        )
        client = LabelStudioClient(conn)
        prefix = f"bench-{uuid.uuid4().hex[:6]}"
        config = LabelStudioConfig(queues=[POLICY], batch_size=batch, project_prefix=prefix)
        setup_project(queue, client, policy=POLICY, prefix=prefix)
        guideline = queue.guidelines.get(POLICY)

        # Baseline tasks: the very payload our push sends, built from the same rows.
        queue.enqueue(make_items(n, "base"))
        rows = queue.run(lambda s: list(s.scalars(select(Item).order_by(col(Item.id))).all()))
        baseline_tasks = [task_for_item(row, guideline, "baseline") for row in rows]
        sdk = client.sdk
        base_project = sdk.projects.create(
            title=f"{prefix}: sdk-baseline",
            label_config=sdk.projects.get(
                id=queue.run(lambda s: s.scalars(select(_project_model())).one()).project_id
            ).label_config,
        ).id

        def sdk_import() -> int:
            count = 0
            for i in range(0, n, batch):
                resp = sdk.projects.import_tasks(
                    id=base_project, request=baseline_tasks[i : i + batch], return_task_ids=True
                )
                count += len(resp.task_ids)
            return count

        t_sdk1, imported = timed(sdk_import)
        assert imported == n
        # Ours: the same items, now pending in the queue, pushed by modqueue.
        t_push, report = timed(lambda: push(queue, client, config))
        assert report.pushed == n, report
        # The SDK once more, after ours, so that neither side gets the warm server alone.
        t_sdk2, imported = timed(sdk_import)
        assert imported == n
        t_sdk = (t_sdk1 + t_sdk2) / 2
        results["push"] = {
            "sdk_import_s": round(t_sdk, 2),
            "sdk_import_runs_s": [round(t_sdk1, 2), round(t_sdk2, 2)],
            "modqueue_push_s": round(t_push, 2),
            "ratio": round(t_push / t_sdk, 3),
            "sdk_tasks_per_s": round(n / t_sdk),
            "modqueue_tasks_per_s": round(n / t_push),
        }
        print(json.dumps({"push": results["push"]}), flush=True)


def bench_pull(
    server: LabelStudioServer, db: str, n: int, batch: int, results: dict[str, Any]
) -> None:
    with ReviewQueue(db) as queue:
        if db.startswith("postgres"):
            _clear(queue)
        conn = LabelStudioConnection(
            url=server.url, api_key=server.legacy_token, timeout_s=600, max_attempts=3
        )
        annotating = AnnotatingClient(conn)
        annotating.user_id = int(annotating.sdk.users.whoami().id)
        prefix = f"bench-{uuid.uuid4().hex[:6]}"
        config = LabelStudioConfig(queues=[POLICY], batch_size=batch, project_prefix=prefix)
        queue.enqueue(make_items(n, "pull"))
        assert push(queue, annotating, config).pushed == n
        client = LabelStudioClient(conn)
        project_id = queue.run(lambda s: s.scalars(select(_project_model())).one()).project_id

        def sdk_read() -> int:
            count = 0
            for page in client.iter_tasks(
                project_id, ordering="tasks:updated_at", fields="all", page_size=1000
            ):
                count += sum(len(t.get("annotations") or []) for t in page)
            return count

        t_read, annotations = timed(sdk_read)
        assert annotations == n, annotations
        t_pull, pulled = timed(lambda: pull(queue, client))
        assert pulled.decided == n, pulled.to_dict()
        results["pull"] = {
            "sdk_read_s": round(t_read, 2),
            "modqueue_pull_s": round(t_pull, 2),
            "ratio": round(t_pull / t_read, 3),
            "decisions_per_s": round(n / t_pull),
        }
        print(json.dumps({"pull": results["pull"]}), flush=True)


def _clear(queue: ReviewQueue) -> None:
    """Empty a PostgreSQL database used by the push phase before the pull phase."""
    from sqlalchemy import text

    queue.run(
        lambda s: s.execute(
            text(
                "TRUNCATE labelstudio_task, labelstudio_project, outbound_action, decision, "
                "audit_event, sync_cursor, item RESTART IDENTITY CASCADE"
            )
        )
    )


def _project_model() -> Any:
    from modqueue.integrations.labelstudio import LabelStudioProject

    return LabelStudioProject


if __name__ == "__main__":
    main()
