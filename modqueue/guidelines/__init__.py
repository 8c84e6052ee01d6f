"""The written policies moderators decide against.

Each policy is one markdown document with YAML front matter (id, title, severity, SLA,
whether its material is graphic, its labels and its routing rules) and a markdown body
(definitions, examples, grey areas); an optional `clusters:` block sets how copies
cluster (`ClusterSettings`: text Jaccard, PDQ distance, propagation). The documents
that ship with modqueue live in `bundled_guidelines_dir()`; a team can point modqueue at
its own folder instead.

* `load_guidelines()` reads a folder into an immutable `GuidelineSet`, or raises
  `GuidelineError` listing every problem with its file and line.
* `check_guidelines()` returns those problems without raising.
* `GuidelineSet.route()` picks the guideline for an item that arrived without a policy;
  items nothing matches go to the `triage` guideline.
* `Guideline.version` is a hash of the file's bytes: every decision records it.
"""

from modqueue.guidelines._loader import bundled_guidelines_dir, check_guidelines, load_guidelines
from modqueue.guidelines._model import (
    REVERSAL_OF,
    Action,
    ClusterSettings,
    Guideline,
    GuidelineProblem,
    Label,
    RoutingRules,
    SignalRule,
)
from modqueue.guidelines._set import TRIAGE_ID, GuidelineSet

__all__ = [
    "REVERSAL_OF",
    "TRIAGE_ID",
    "Action",
    "ClusterSettings",
    "Guideline",
    "GuidelineProblem",
    "GuidelineSet",
    "Label",
    "RoutingRules",
    "SignalRule",
    "bundled_guidelines_dir",
    "check_guidelines",
    "load_guidelines",
]
