"""The review queue: items, claims, decisions, audit events and outbound actions.

No UI, no HTTP: the terminal UI, the CLI and the scheduler all call into this package.
"""

from modqueue.queue._access import OPEN_MODE_WARNING, Permission, authorize, is_open_mode
from modqueue.queue._access_models import Reviewer, ReviewerPublic, Role
from modqueue.queue._audit import record_event
from modqueue.queue._audit_log import ChainReport, audit_history, event_dict, verify_chain
from modqueue.queue._claims import Claim
from modqueue.queue._dashboard import (
    DashboardMetrics,
    ModelHealth,
    QueueHealth,
    dashboard_metrics,
)
from modqueue.queue._db import make_engine, migrate, schema_is_current
from modqueue.queue._ingest import IngestReport, Rejection
from modqueue.queue._items import MAX_TEXT_BYTES, ItemIn, item_json_schema, read_jsonl
from modqueue.queue._model_routing import ModelBand, route_by_model
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
from modqueue.queue._pseudonyms import pseudonym_for, pseudonyms_for, reviewer_for_pseudonym
from modqueue.queue._reversal import reverse_decision
from modqueue.queue._review_desk import QueueSummary, record_reveal, reviewer_queues
from modqueue.queue._review_queue import ReviewQueue
from modqueue.queue._reviewers import (
    NewToken,
    add_reviewer,
    disable_reviewer,
    grant_reviewer,
    link_reviewer,
    list_reviewers,
    reset_token,
)
from modqueue.queue._routing import (
    TRIAGE,
    is_low_queue,
    is_senior_queue,
    low_queue,
    policy_of_queue,
    rescore,
    senior_queue,
)
from modqueue.queue._types import ActionStatus, DecisionStatus, ItemStatus, UTCDateTime, utcnow

__all__ = [
    "MAX_TEXT_BYTES",
    "OPEN_MODE_WARNING",
    "TRIAGE",
    "ActionStatus",
    "AuditEvent",
    "ChainReport",
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
    "ModelBand",
    "ModelHealth",
    "NewToken",
    "OutboundAction",
    "OutboundActionPublic",
    "Permission",
    "QueueHealth",
    "QueueSummary",
    "Rejection",
    "ReviewQueue",
    "Reviewer",
    "ReviewerPublic",
    "Role",
    "SyncCursor",
    "UTCDateTime",
    "add_reviewer",
    "audit_history",
    "authorize",
    "dashboard_metrics",
    "disable_reviewer",
    "event_dict",
    "grant_reviewer",
    "is_low_queue",
    "is_open_mode",
    "is_senior_queue",
    "item_json_schema",
    "link_reviewer",
    "list_reviewers",
    "low_queue",
    "make_engine",
    "migrate",
    "policy_of_queue",
    "pseudonym_for",
    "pseudonyms_for",
    "read_jsonl",
    "record_event",
    "record_reveal",
    "rescore",
    "reset_token",
    "reverse_decision",
    "reviewer_for_pseudonym",
    "reviewer_queues",
    "route_by_model",
    "schema_is_current",
    "senior_queue",
    "utcnow",
    "verify_chain",
]
