"""The model loop: models trained on final human decisions score new items first.

* `train_policy()` trains one policy's text classifier (TF-IDF, linear SVM, calibrated
  probabilities) on the export's train split, tunes it on validation, measures it on
  test, and saves it with a card; `activate_model()`/`retire_model()` manage the
  registry (`model_version` table, artefacts under `[models] dir`).
* `prescore_pending()` scores new items with each active model as the signal
  `model:<policy>@<version>`, through the queue's ingest path.

scikit-learn, joblib and matplotlib are imported on first use only. No UI, CLI or HTTP.
"""

from modqueue._sections.models import ModelsConfig, PolicyModelConfig
from modqueue.learning._active import (
    STRATEGIES,
    ActiveModel,
    Strategy,
    active_model_for,
    rank_for_labeling,
)
from modqueue.learning._artefact import ModelBundle, Prediction, load_bundle, read_card
from modqueue.learning._data import AUTOMATED_ORIGINS, Example, is_human, load_examples
from modqueue.learning._drift import DriftReport, check_drift
from modqueue.learning._registry import (
    activate_model,
    active_models,
    get_model,
    guideline_warning,
    list_models,
    retire_model,
    signal_name,
    train_policy,
)
from modqueue.learning._registry_models import ModelState, ModelVersion
from modqueue.learning._replay import PolicyReplay, ReplayReport, priority_band, replay
from modqueue.learning._scoring import PrescoreReport, prescore_pending

__all__ = [
    "AUTOMATED_ORIGINS",
    "STRATEGIES",
    "ActiveModel",
    "DriftReport",
    "Example",
    "ModelBundle",
    "ModelState",
    "ModelVersion",
    "ModelsConfig",
    "PolicyModelConfig",
    "PolicyReplay",
    "Prediction",
    "PrescoreReport",
    "ReplayReport",
    "Strategy",
    "activate_model",
    "active_model_for",
    "active_models",
    "check_drift",
    "get_model",
    "guideline_warning",
    "is_human",
    "list_models",
    "load_bundle",
    "load_examples",
    "prescore_pending",
    "priority_band",
    "rank_for_labeling",
    "read_card",
    "replay",
    "retire_model",
    "signal_name",
    "train_policy",
]
