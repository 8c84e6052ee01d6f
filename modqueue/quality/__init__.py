"""Decision quality: blind second reviews, gold items, agreement and appeals.

The routing of decisions (sampling, second review, senior, appeal outcomes) lives in the
queue's decision pipeline (`modqueue.queue`); this package holds the services
leads use and the agreement statistics. No UI, no HTTP.
"""

from modqueue.quality._agreement import (
    Agreement,
    item_agreement,
    krippendorff_alpha_nominal,
    pairwise_agreement,
)
from modqueue.quality._appeals import list_appeals, open_appeal
from modqueue.quality._gold import add_gold, gold_accuracy, list_gold, remove_gold
from modqueue.quality._guard import UNIDENTIFIED, authorize_actor
from modqueue.quality._report import item_labels, quality_report
from modqueue.queue import (
    DEFAULT_SECOND_REVIEW_SHARE,
    Appeal,
    AppealPublic,
    AppealStatus,
    DecisionKind,
    GoldItemPublic,
    QualityConfig,
    QueueQualityConfig,
    sampled_for_second_review,
)

__all__ = [
    "DEFAULT_SECOND_REVIEW_SHARE",
    "UNIDENTIFIED",
    "Agreement",
    "Appeal",
    "AppealPublic",
    "AppealStatus",
    "DecisionKind",
    "GoldItemPublic",
    "QualityConfig",
    "QueueQualityConfig",
    "add_gold",
    "authorize_actor",
    "gold_accuracy",
    "item_agreement",
    "item_labels",
    "krippendorff_alpha_nominal",
    "list_appeals",
    "list_gold",
    "open_appeal",
    "pairwise_agreement",
    "quality_report",
    "remove_gold",
    "sampled_for_second_review",
]
