"""Every table modqueue stores, imported in one place so the metadata is complete.

Alembic's environment and the schema test import this module. A new table lives in the
module of the feature it belongs to and is imported here.
"""

from modqueue.integrations.labelstudio import (
    LabelStudioProject,
    LabelStudioRefusal,
    LabelStudioTask,
)
from modqueue.learning import ModelVersion
from modqueue.queue import (
    ActionCounter,
    Appeal,
    AuditCheckpoint,
    AuditEvent,
    AuditPersonal,
    AuditSeal,
    ClusterDecision,
    ContentCluster,
    Decision,
    DecisionHandling,
    DecisionMinute,
    ExportSecret,
    ExposureEvent,
    ExposureLift,
    FingerprintBand,
    FingerprintPdq,
    GoldItem,
    Item,
    ItemFingerprint,
    KnownContent,
    OutboundAction,
    QueueCounter,
    Reviewer,
    ReviewerPseudonym,
    SyncCursor,
)

__all__ = [
    "ActionCounter",
    "Appeal",
    "AuditCheckpoint",
    "AuditEvent",
    "AuditPersonal",
    "AuditSeal",
    "ClusterDecision",
    "ContentCluster",
    "Decision",
    "DecisionHandling",
    "DecisionMinute",
    "ExportSecret",
    "ExposureEvent",
    "ExposureLift",
    "FingerprintBand",
    "FingerprintPdq",
    "GoldItem",
    "Item",
    "ItemFingerprint",
    "KnownContent",
    "LabelStudioProject",
    "LabelStudioRefusal",
    "LabelStudioTask",
    "ModelVersion",
    "OutboundAction",
    "QueueCounter",
    "Reviewer",
    "ReviewerPseudonym",
    "SyncCursor",
]
