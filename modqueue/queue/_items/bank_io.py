"""The known-content bank's exchange format: one JSON object per line.

```json
{"kind": "pdq", "hash": "<64 hex>", "policy": "people-smuggling",
 "label": "remove-ban-refer", "distance": 20}
{"kind": "text_minhash", "signature": [128 ints], "num_perm": 128, "seed": 1,
 "scheme": "byte5-fib32-affine32", "policy": "...", "label": "..."}
```

(one object per line in the file; wrapped here).

`distance` (PDQ only, optional) overrides the policy's `pdq_distance` for that entry.
A text signature is the MinHash (datasketch, 128 permutations, seed 1, scheme
`affine32`) of the 5-byte shingles of the text's normalised words joined by spaces
(`normalise_text`, UTF-8), each shingle hashed to 32 bits as the fingerprints module
describes; values are unsigned 32-bit integers. Unknown keys are ignored.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlmodel import Session, col

from modqueue.guidelines import GuidelineSet
from modqueue.queue._core.match_models import KnownContent
from modqueue.queue._core.types import utcnow
from modqueue.queue._items.bank import bank_value_key, insert_bank_entries
from modqueue.queue._items.fingerprints import (
    NUM_PERM,
    SEED,
    is_hex64,
    signature_from_hex,
    signature_hex,
)

__all__ = [
    "BANK_SCHEME",
    "BankImportReport",
    "bank_entry_from_line",
    "bank_lines",
    "import_bank_lines",
]

BANK_SCHEME = "byte5-fib32-affine32"
"""How modqueue's text signatures are made (see the module docstring)."""
_MAX_U32 = 2**32 - 1


def bank_lines(session: Session) -> Iterator[dict[str, Any]]:
    """Every bank entry in the exchange format, oldest first."""
    rows = session.execute(
        select(
            col(KnownContent.kind),
            col(KnownContent.value),
            col(KnownContent.policy),
            col(KnownContent.label),
            col(KnownContent.distance),
        ).order_by(col(KnownContent.id))
    )
    for kind, value, policy, label, distance in rows:
        if kind == "pdq":
            line: dict[str, Any] = {"kind": "pdq", "hash": value}
            if distance is not None:
                line["distance"] = distance
        else:
            line = {
                "kind": "text_minhash",
                "signature": [int(v) for v in signature_from_hex(value)],
                "num_perm": NUM_PERM,
                "seed": SEED,
                "scheme": BANK_SCHEME,
            }
        line["policy"] = policy
        line["label"] = label
        yield line


def bank_entry_from_line(
    raw: Any, *, guidelines: GuidelineSet | None
) -> tuple[dict[str, Any] | None, str | None]:
    """One decoded line as a bank row, or `(None, reason)`."""
    if not isinstance(raw, dict):
        return None, f"expected a JSON object, got {type(raw).__name__}"
    policy, label = raw.get("policy"), raw.get("label")
    if not isinstance(policy, str) or not policy:
        return None, "policy: expected a guideline id"
    if not isinstance(label, str) or not label:
        return None, "label: expected a label id"
    if guidelines is not None:
        if policy not in guidelines:
            return None, f"policy: {policy!r} is not a guideline here"
        if label not in {x.id for x in guidelines.get(policy).labels}:
            return None, f"label: {label!r} is not a label of {policy!r}"
    kind = raw.get("kind")
    distance = None
    if kind == "pdq":
        value = raw.get("hash")
        if not isinstance(value, str) or not is_hex64(value.lower()):
            return None, "hash: expected 64 hex digits"
        value = value.lower()
        distance = raw.get("distance")
        if distance is not None and (
            isinstance(distance, bool) or not isinstance(distance, int) or not 0 <= distance <= 256
        ):
            return None, "distance: expected a whole number 0..256"
    elif kind == "text_minhash":
        if raw.get("num_perm") != NUM_PERM:
            return None, f"num_perm: expected {NUM_PERM}"
        if raw.get("seed") != SEED:
            return None, f"seed: expected {SEED}"
        if raw.get("scheme", BANK_SCHEME) != BANK_SCHEME:
            return None, f"scheme: expected {BANK_SCHEME!r}"
        values = raw.get("signature")
        if (
            not isinstance(values, list)
            or len(values) != NUM_PERM
            or not all(
                isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= _MAX_U32
                for v in values
            )
        ):
            return None, f"signature: expected {NUM_PERM} whole numbers 0..{_MAX_U32}"
        value = signature_hex(np.asarray(values, dtype=np.uint32))
    else:
        return None, "kind: expected 'pdq' or 'text_minhash'"
    return {
        "kind": kind,
        "value": value,
        "value_key": bank_value_key(kind, value),
        "policy": policy,
        "label": label,
        "distance": distance,
        "origin": "import",
        "item_id": None,
    }, None


@dataclass(slots=True)
class BankImportReport:
    """What an import did: entries added, duplicates skipped, lines rejected."""

    added: int = 0
    duplicates: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "added": self.added,
            "duplicates": self.duplicates,
            "rejected": [{"line": n, "reason": r} for n, r in self.rejected],
        }


def import_bank_lines(
    session: Session,
    lines: Iterable[tuple[int, str]],
    *,
    guidelines: GuidelineSet | None,
    report: BankImportReport,
    now: datetime | None = None,
) -> None:
    """Check and store numbered lines (`(line number, text)`) into the bank, counting
    into `report`; a bad line is rejected as `line N: reason`, the others are kept."""
    now = now or utcnow()
    rows = []
    for number, text in lines:
        if not text.strip():
            continue
        try:
            raw = json.loads(text)
        except ValueError as exc:
            report.rejected.append((number, f"not valid JSON: {exc}"))
            continue
        row, reason = bank_entry_from_line(raw, guidelines=guidelines)
        if row is None:
            report.rejected.append((number, reason or "invalid"))
            continue
        row["created_at"] = now
        rows.append(row)
    added = insert_bank_entries(session, rows)
    report.added += added
    report.duplicates += len(rows) - added
