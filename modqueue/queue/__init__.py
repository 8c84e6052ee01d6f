"""The review queue: items, claims, decisions, audit events and outbound actions.

No UI, no HTTP: the terminal UI, the CLI and the scheduler all call into this package.
"""

from modqueue.queue._claims import Claim
from modqueue.queue._dashboard import DashboardMetrics, QueueHealth, dashboard_metrics
from modqueue.queue._db import make_engine, migrate, schema_is_current
from modqueue.queue._ingest import IngestReport, Rejection
from modqueue.queue._items import MAX_TEXT_BYTES, ItemIn, item_json_schema, read_jsonl
from modqueue.queue._models import (
    AuditEvent,
    Decision,
    DecisionPublic,
    Item,
    ItemPublic,
    OutboundAction,
    OutboundActionPublic,
    SyncCursor,
)
from modqueue.queue._review_queue import ReviewQueue
from modqueue.queue._reviewer import QueueSummary, record_reveal, reviewer_queues
from modqueue.queue._routing import TRIAGE, is_senior_queue, senior_queue
from modqueue.queue._types import ActionStatus, DecisionStatus, ItemStatus, utcnow

__all__ = [
    "MAX_TEXT_BYTES",
    "TRIAGE",
    "ActionStatus",
    "AuditEvent",
    "Claim",
    "DashboardMetrics",
    "Decision",
    "DecisionPublic",
    "DecisionStatus",
    "IngestReport",
    "Item",
    "ItemIn",
    "ItemPublic",
    "ItemStatus",
    "OutboundAction",
    "OutboundActionPublic",
    "QueueHealth",
    "QueueSummary",
    "Rejection",
    "ReviewQueue",
    "SyncCursor",
    "dashboard_metrics",
    "is_senior_queue",
    "item_json_schema",
    "make_engine",
    "migrate",
    "read_jsonl",
    "record_reveal",
    "reviewer_queues",
    "schema_is_current",
    "senior_queue",
    "utcnow",
]
