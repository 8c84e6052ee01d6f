"""Personal data out of the chained audit payload.

`split_personal` takes the personal fields (`PERSONAL_KEYS`) out of an event's `before`,
`after` and `detail`, and puts a salted digest in their place: `{"personal": "<hex>"}`,
the SHA-256 of the event's random nonce, the field's path and its canonical JSON value.
The values go to `audit_personal`. The event's hash covers the digest only, so deleting
the `audit_personal` row (erasure, retention) leaves the chain verifying; while the row
exists, `verify_chain` checks that its values still match their digests. Without the
nonce (deleted with the row) a digest cannot be matched to a guessed value.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from typing import Any

__all__ = [
    "CONTENT_KEYS",
    "MARKER",
    "PERSONAL_KEYS",
    "PERSONAL_PARTS",
    "REDACTED",
    "merge_personal",
    "personal_digest",
    "redacted_text",
    "split_personal",
]

CONTENT_KEYS = frozenset({"text", "url", "media"})
"""Item content: kept for `[retention] content_days`."""
PERSONAL_KEYS = CONTENT_KEYS | {"reporter", "author_id", "author_handle", "note"}
"""Keys of `before`, `after` and `detail` whose values are personal data."""
PERSONAL_PARTS = ("before", "after", "detail")
MARKER = "personal"
REDACTED = "redacted"
"""`{"redacted": text}` in `audit_personal`: a note whose quoted personal data was
replaced by `[erased]`; it no longer matches its digest, and says so."""


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def personal_digest(nonce: str, path: str, value: Any) -> str:
    """The digest standing in for `value` at `path` (`"detail.note"`) in the chain."""
    return hashlib.sha256(
        nonce.encode() + b"\0" + path.encode() + b"\0" + _canonical(value)
    ).hexdigest()


def split_personal(
    parts: dict[str, dict[str, Any] | None], nonce: str | None = None
) -> tuple[dict[str, dict[str, Any] | None], str, dict[str, Any]]:
    """`(parts without personal values, nonce, {path: value})` for the `before`, `after`
    and `detail` of one event. `None` values are not personal (nothing to erase)."""
    nonce = nonce or secrets.token_hex(16)
    moved: dict[str, Any] = {}
    out: dict[str, dict[str, Any] | None] = {}
    for part, values in parts.items():
        if not values or not (PERSONAL_KEYS & values.keys()):
            out[part] = values
            continue
        kept: dict[str, Any] = {}
        for key, value in values.items():
            if key in PERSONAL_KEYS and value is not None and not _is_marker(value):
                path = f"{part}.{key}"
                value = json.loads(json.dumps(value, default=str))
                moved[path] = value
                kept[key] = {MARKER: personal_digest(nonce, path, value)}
            else:
                kept[key] = value
        out[part] = kept
    return out, nonce, moved


def redacted_text(value: Any) -> str | None:
    """The text of a note as stored in `audit_personal` (redacted or not); None for
    a value that is not text."""
    if isinstance(value, dict) and value.keys() == {REDACTED}:
        return str(value[REDACTED])
    return value if isinstance(value, str) else None


def _is_marker(value: Any) -> bool:
    return isinstance(value, dict) and value.keys() == {MARKER}


def merge_personal(
    part: str, values: dict[str, Any] | None, data: dict[str, Any] | None
) -> dict[str, Any] | None:
    """`values` (one of `before`, `after`, `detail`) with its personal fields put back
    from `data`; an erased field reads `"[erased]"`."""
    if not values:
        return values
    merged = dict(values)
    for key, value in values.items():
        if _is_marker(value):
            path = f"{part}.{key}"
            stored = data[path] if data is not None and path in data else "[erased]"
            text = redacted_text(stored)
            merged[key] = text if text is not None else stored
    return merged
