"""The review queue: items, claims, decisions, audit events and outbound actions.

No UI, no HTTP: the terminal UI, the CLI and the scheduler all call into this package.
"""

from modqueue.queue._access.config import AuthConfig
from modqueue.queue._access.grants import grant_app_role
from modqueue.queue._access.models import Reviewer, ReviewerPseudonym, ReviewerPublic, Role
from modqueue.queue._access.pseudonyms import pseudonym_for, pseudonyms_for, reviewer_for_pseudonym
from modqueue.queue._access.reviewers import (
    NewToken,
    add_reviewer,
    disable_reviewer,
    grant_reviewer,
    link_reviewer,
    list_reviewers,
    reset_token,
    reviewer_for_labelstudio,
)
from modqueue.queue._access.rules import (
    OPEN_MODE_WARNING,
    UNIDENTIFIED,
    Permission,
    authorize,
    authorize_actor,
    is_open_mode,
    queue_filter,
    refuse,
    role_allows,
    roles_with,
)
from modqueue.queue._audit.chain import AuditRecord, record_event, record_events
from modqueue.queue._audit.log import ChainReport, audit_history, event_dict, verify_chain
from modqueue.queue._claims.leases import Claim, hold_batch_for, hold_for
from modqueue.queue._core.db import (
    make_engine,
    migrate,
    read_connection,
    read_session,
    schema_is_current,
)
from modqueue.queue._core.models import (
    AuditEvent,
    Decision,
    DecisionPublic,
    Item,
    ItemPublic,
    OutboundAction,
    OutboundActionPublic,
    SyncCursor,
)
from modqueue.queue._core.quality_config import (
    DEFAULT_SECOND_REVIEW_SHARE,
    QualityConfig,
    QueueQualityConfig,
)
from modqueue.queue._core.quality_models import (
    Appeal,
    AppealPublic,
    AppealStatus,
    ExportSecret,
    GoldItem,
    GoldItemPublic,
)
from modqueue.queue._core.routing import (
    SECOND_REVIEW_SUFFIX,
    TRIAGE,
    is_senior_queue,
    policy_of_queue,
    senior_queue,
)
from modqueue.queue._core.types import ActionStatus, DecisionStatus, ItemStatus, UTCDateTime, utcnow
from modqueue.queue._decisions.pipeline import (
    Annotation,
    decide,
    decide_held,
    escalate,
    record_annotation,
    reopen_for_appeal,
    return_held,
    reverse_decision,
    supersede_decision,
    undo_decision,
)
from modqueue.queue._decisions.settlement import (
    DecisionKind,
    sampled_for_second_review,
)
from modqueue.queue._items.ingest import IngestReport, Rejection, ingest_batch
from modqueue.queue._items.schema import (
    MAX_TEXT_BYTES,
    ItemIn,
    item_json_schema,
    read_jsonl,
    validation_reason,
)
from modqueue.queue._read.dashboard import DashboardMetrics, QueueHealth, dashboard_metrics
from modqueue.queue._read.desk import QueueSummary, record_reveal, reviewer_queues
from modqueue.queue._review_queue import ReviewQueue

__all__ = [
    "DEFAULT_SECOND_REVIEW_SHARE",
    "MAX_TEXT_BYTES",
    "OPEN_MODE_WARNING",
    "SECOND_REVIEW_SUFFIX",
    "TRIAGE",
    "UNIDENTIFIED",
    "ActionStatus",
    "Annotation",
    "Appeal",
    "AppealPublic",
    "AppealStatus",
    "AuditEvent",
    "AuditRecord",
    "AuthConfig",
    "ChainReport",
    "Claim",
    "DashboardMetrics",
    "Decision",
    "DecisionKind",
    "DecisionPublic",
    "DecisionStatus",
    "ExportSecret",
    "GoldItem",
    "GoldItemPublic",
    "IngestReport",
    "Item",
    "ItemIn",
    "ItemPublic",
    "ItemStatus",
    "NewToken",
    "OutboundAction",
    "OutboundActionPublic",
    "Permission",
    "QualityConfig",
    "QueueHealth",
    "QueueQualityConfig",
    "QueueSummary",
    "Rejection",
    "ReviewQueue",
    "Reviewer",
    "ReviewerPseudonym",
    "ReviewerPublic",
    "Role",
    "SyncCursor",
    "UTCDateTime",
    "add_reviewer",
    "audit_history",
    "authorize",
    "authorize_actor",
    "dashboard_metrics",
    "decide",
    "decide_held",
    "disable_reviewer",
    "escalate",
    "event_dict",
    "grant_app_role",
    "grant_reviewer",
    "hold_batch_for",
    "hold_for",
    "ingest_batch",
    "is_open_mode",
    "is_senior_queue",
    "item_json_schema",
    "link_reviewer",
    "list_reviewers",
    "make_engine",
    "migrate",
    "policy_of_queue",
    "pseudonym_for",
    "pseudonyms_for",
    "queue_filter",
    "read_connection",
    "read_jsonl",
    "read_session",
    "record_annotation",
    "record_event",
    "record_events",
    "record_reveal",
    "refuse",
    "reopen_for_appeal",
    "reset_token",
    "return_held",
    "reverse_decision",
    "reviewer_for_labelstudio",
    "reviewer_for_pseudonym",
    "reviewer_queues",
    "role_allows",
    "roles_with",
    "sampled_for_second_review",
    "schema_is_current",
    "senior_queue",
    "supersede_decision",
    "undo_decision",
    "utcnow",
    "validation_reason",
    "verify_chain",
]
