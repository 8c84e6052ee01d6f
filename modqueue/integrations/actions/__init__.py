"""Takedown actions: delivering the outbox to each platform over HTTP and tracking outcomes.

A decision whose label carries an action leaves a pending `OutboundAction` row (the
outbox) in the decision's own transaction. This package delivers those rows:

* `dispatch_due()` / `adispatch_due()` claim due actions in batches, POST them to the
  platform's `action_url` concurrently (signed JSON, one stable idempotency key per action)
  and record what the platform answered: `done`, `declined`, `sent` (with a follow-up when
  the outcome is `pending`), a retry with backoff, or `failed`.
* `poll_statuses()` / `apoll_statuses()` follow up pending outcomes at `status_url`.
* `run_dispatcher()` loops both, as `modqueue actions dispatch` does.
* `list_actions()`, `retry_actions()` read and re-queue the outbox;
  `reverse_decision()` (from `modqueue.queue`) queues the opposite action of an
  overturned decision.
* `notifiers()`, `destinations()`: sources with a `notify_url` as destinations
  `notify:<source>`, for feedback to the notifier (`modqueue.queue.queue_notices`).
* `action_body()`, `sign()`, `verify_signature()` describe the wire format for platforms.
"""

from modqueue.integrations.actions._dispatch import (
    DispatchReport,
    adispatch_due,
    apoll_statuses,
    dispatch_due,
    poll_statuses,
    run_dispatcher,
)
from modqueue.integrations.actions._notify import destinations, notifiers
from modqueue.integrations.actions._outcome import Outcome, OutcomeKind, parse_retry_after
from modqueue.integrations.actions._payload import (
    SIGNATURE_HEADER,
    ClaimedAction,
    action_body,
    sign,
    verify_signature,
)
from modqueue.integrations.actions._store import (
    RecordSummary,
    backoff_seconds,
    claim_due,
    claim_follow_ups,
    list_actions,
    record_outcomes,
    record_polls,
    retry_actions,
    unconfigured_sources,
)
from modqueue.queue import reverse_decision

__all__ = [
    "SIGNATURE_HEADER",
    "ClaimedAction",
    "DispatchReport",
    "Outcome",
    "OutcomeKind",
    "RecordSummary",
    "action_body",
    "adispatch_due",
    "apoll_statuses",
    "backoff_seconds",
    "claim_due",
    "claim_follow_ups",
    "destinations",
    "dispatch_due",
    "list_actions",
    "notifiers",
    "parse_retry_after",
    "poll_statuses",
    "record_outcomes",
    "record_polls",
    "retry_actions",
    "reverse_decision",
    "run_dispatcher",
    "sign",
    "unconfigured_sources",
    "verify_signature",
]
