"""Every error modqueue raises on purpose.

The hierarchy:

* ModqueueError
    * ConfigError - a setting, the TOML configuration or a command-line value is wrong.
    * GuidelineError - a guideline document is invalid (carries every problem found).
    * NotFound - an item, action, label or reviewer that does not exist.
        * UnknownLabel
    * ClaimError - a claim cannot be used.
        * LeaseExpired - the claim's lease ran out (the item may be back in the queue).
        * ClaimLost - the item was taken over, released or decided by someone else.
    * InvalidState - the operation does not fit the item's or action's current state.
    * PermissionDenied - the reviewer's role does not allow the operation.
    * DatabaseBusy - another process held the SQLite database's write lock for longer than
      the busy time-out (`MODQUEUE_SQLITE_BUSY_TIMEOUT_MS`).
    * IntegrationError - a source, platform or Label Studio answered badly or not at all.
        * ReplyLimitExceeded - a peer's reply broke a bound set on it.
            * ReplyTooLarge - more bytes (decoded) than the limit allows.
            * ReplyTooSlow - no complete reply before the request's deadline.
        * MediaRefused - a media URL or its reply was refused before any byte was kept: an
          address that is not public (SSRF), a type that is not an allowed image, too
          many redirects.
    * ModelError - a model cannot be trained, found or loaded (too few decisions, one class).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from modqueue.guidelines import GuidelineProblem

__all__ = [
    "ClaimError",
    "ClaimLost",
    "ConfigError",
    "DatabaseBusy",
    "GuidelineError",
    "IntegrationError",
    "InvalidState",
    "LeaseExpired",
    "MediaRefused",
    "ModelError",
    "ModqueueError",
    "NotFound",
    "PermissionDenied",
    "ReplyLimitExceeded",
    "ReplyTooLarge",
    "ReplyTooSlow",
    "UnknownLabel",
]


class ModqueueError(Exception):
    """Base class of every error modqueue raises on purpose."""


class ConfigError(ModqueueError):
    """A setting, the TOML configuration or a command-line value is wrong."""


class GuidelineError(ModqueueError):
    """One or more guideline documents are invalid.

    `problems` lists each problem with its file and line.
    """

    def __init__(self, problems: Sequence[GuidelineProblem]) -> None:
        self.problems = list(problems)
        lines = "\n".join(str(p) for p in self.problems)
        super().__init__(f"{len(self.problems)} guideline problem(s):\n{lines}")


class NotFound(ModqueueError):
    """An item, action, label or reviewer that does not exist."""


class UnknownLabel(NotFound):
    """A label that the item's guideline does not define."""


class ClaimError(ModqueueError):
    """A claim cannot be used any more."""


class LeaseExpired(ClaimError):
    """The claim's lease ran out before the operation."""


class ClaimLost(ClaimError):
    """The item was taken over, released or decided by someone else."""


class InvalidState(ModqueueError):
    """The operation does not fit the current state of the item or action."""


class PermissionDenied(ModqueueError):
    """The reviewer's role does not allow the operation."""


class IntegrationError(ModqueueError):
    """A source, platform or Label Studio answered badly or not at all."""


class DatabaseBusy(ModqueueError):
    """Another process held the SQLite database's write lock for longer than the busy
    time-out (`MODQUEUE_SQLITE_BUSY_TIMEOUT_MS`); the message names the database file."""


class ReplyLimitExceeded(IntegrationError):
    """A peer's reply broke a bound set on it (size or time); retried like any failure."""


class ReplyTooLarge(ReplyLimitExceeded):
    """A reply's body, counted after decompression, went over its byte limit."""


class ReplyTooSlow(ReplyLimitExceeded):
    """A reply was not complete before the request's deadline."""


class MediaRefused(IntegrationError):
    """A media URL or its reply was refused: an address that is not public (SSRF), a
    content type that is not an allowed image, or too many redirects."""


class ModelError(ModqueueError):
    """A model cannot be trained (too few decisions, a single class), found or loaded."""
