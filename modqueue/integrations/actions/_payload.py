"""What goes over the wire: the JSON body of an action and its HMAC signature."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from modqueue.queue import NOTIFY_ACTIONS

__all__ = [
    "SIGNATURE_HEADER",
    "ClaimedAction",
    "action_body",
    "request_headers",
    "sign",
    "verify_signature",
]

SIGNATURE_HEADER = "X-Modqueue-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"


@dataclass(frozen=True, slots=True)
class ClaimedAction:
    """An outbox row reserved by one dispatcher for one delivery attempt (or one poll).

    `attempts` is the attempt number this claim made; recording its outcome only
    succeeds while the row still carries it (a fence against a dispatcher whose lease
    ran out and whose action was claimed again).
    """

    id: int
    attempts: int
    idempotency_key: str
    action: str
    source: str
    external_id: str
    policy: str
    label: str
    reason: str
    decided_at: datetime
    reference: str | None = None


def action_body(action: ClaimedAction) -> bytes:
    """The exact bytes POSTed for `action`: compact JSON with sorted keys.

    The same action always gives the same bytes, so every retry carries the same body,
    key and signature.
    """
    if action.action in NOTIFY_ACTIONS:
        # Feedback to a notifier: the document queued with it, plus the key.
        notice = {**json.loads(action.reason), "idempotency_key": action.idempotency_key}
        return json.dumps(
            notice, sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode()
    payload = {
        "idempotency_key": action.idempotency_key,
        "action": action.action,
        "source": action.source,
        "external_id": action.external_id,
        "policy": action.policy,
        "label": action.label,
        "reason": action.reason,
        "decided_at": action.decided_at.isoformat().replace("+00:00", "Z"),
    }
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign(secret: str, body: bytes) -> str:
    """`sha256=<hex HMAC-SHA256 of body keyed with secret>`, the signature header's value."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(secret: str, body: bytes, header: str | None) -> bool:
    """True when `header` is the signature of `body` under `secret` (constant time).

    This is what a platform runs on its side; modqueue's tests use it too.
    """
    if not header:
        return False
    return hmac.compare_digest(sign(secret, body), header)


def request_headers(
    action: ClaimedAction, secret: str, body: bytes, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Headers of the POST: content type, `Idempotency-Key` and the signature."""
    headers = {
        "Content-Type": "application/json",
        IDEMPOTENCY_HEADER: action.idempotency_key,
        SIGNATURE_HEADER: sign(secret, body),
    }
    if extra:
        headers.update(extra)
    return headers
