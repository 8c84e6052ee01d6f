"""Label Studio: annotators label a share of the queue, through label-studio-sdk 2.x.

* `setup_project()` creates or updates one project per guideline (labeling config and
  instructions generated from it).
* `push()` leases a share of the routed queues to Label Studio and imports them as tasks
  (idempotent: a batch whose answer was lost is found again, never sent twice), and
  withdraws the tasks of items decided elsewhere.
* `pull()` turns new and updated annotations into decisions through the queue's own
  decide path, incrementally, as the reviewer linked to each annotator (checked like any
  other entry point once reviewers are registered; refusals are retried by later pulls).

The SDK is imported on first use only (it is heavy): importing this package is cheap.
"""

from modqueue._sections.labelstudio import LabelStudioConfig, LabelStudioConnection
from modqueue.integrations.labelstudio._client import (
    LabelStudioClient,
    format_ls_time,
    parse_ls_time,
)
from modqueue.integrations.labelstudio._labeling import (
    instructions_html,
    label_id_of_choice,
    labeling_config,
    predicted_label,
    task_for_item,
)
from modqueue.integrations.labelstudio._models import (
    LabelStudioProject,
    LabelStudioRefusal,
    LabelStudioTask,
    TaskState,
)
from modqueue.integrations.labelstudio._pull import ORIGIN, PullReport, cursor_name, pull
from modqueue.integrations.labelstudio._push import (
    LS_REVIEWER,
    PushReport,
    in_share,
    push,
    withdraw_decided,
)
from modqueue.integrations.labelstudio._setup import SetupResult, project_title, setup_project

__all__ = [
    "LS_REVIEWER",
    "ORIGIN",
    "LabelStudioClient",
    "LabelStudioConfig",
    "LabelStudioConnection",
    "LabelStudioProject",
    "LabelStudioRefusal",
    "LabelStudioTask",
    "PullReport",
    "PushReport",
    "SetupResult",
    "TaskState",
    "cursor_name",
    "format_ls_time",
    "in_share",
    "instructions_html",
    "label_id_of_choice",
    "labeling_config",
    "parse_ls_time",
    "predicted_label",
    "project_title",
    "pull",
    "push",
    "setup_project",
    "task_for_item",
    "withdraw_decided",
]
