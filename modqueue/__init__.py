"""modqueue: a human-review moderation and annotation queue.

```python
from modqueue import ReviewQueue

queue = ReviewQueue()  # sqlite:///modqueue.db, bundled guidelines
```
"""

from modqueue._exceptions import (
    ClaimError,
    ClaimLost,
    ConfigError,
    DatabaseBusy,
    GuidelineError,
    IntegrationError,
    InvalidState,
    LeaseExpired,
    ModqueueError,
    NotFound,
    PermissionDenied,
    UnknownLabel,
)
from modqueue.queue import Claim, DecisionPublic, IngestReport, ItemPublic, Rejection, ReviewQueue

__version__ = "0.1.0"

__all__ = [
    "Claim",
    "ClaimError",
    "ClaimLost",
    "ConfigError",
    "DatabaseBusy",
    "DecisionPublic",
    "GuidelineError",
    "IngestReport",
    "IntegrationError",
    "InvalidState",
    "ItemPublic",
    "LeaseExpired",
    "ModqueueError",
    "NotFound",
    "PermissionDenied",
    "Rejection",
    "ReviewQueue",
    "UnknownLabel",
    "__version__",
]
