"""Where a decision came from: a person, or automation acting on a person's earlier word.

`propagated` decisions (a cluster's standing decision applied to a late copy) and
bank-matched ones are made by no one looking at the item; dashboards and exports count
them apart (`automated: true`) and training data leaves them out.
"""

from __future__ import annotations

__all__ = ["AUTOMATED_ORIGINS", "is_automated"]

AUTOMATED_ORIGINS = frozenset({"propagated", "bank", "bank_match", "hash_match", "model"})
"""Decision origins that are not a person's judgement (plus any `model:...` origin)."""


def is_automated(origin: str | None) -> bool:
    """Whether a decision's origin is automation (propagation, a bank match, a model)."""
    return origin is not None and (origin in AUTOMATED_ORIGINS or origin.startswith("model:"))
