"""Reading the audit trail: history queries and hash-chain verification."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from modqueue._fields import fields_dict
from modqueue.queue._audit.chain import GENESIS_HASH, event_hash
from modqueue.queue._audit.personal import (
    MARKER,
    PERSONAL_PARTS,
    REDACTED,
    merge_personal,
    personal_digest,
)
from modqueue.queue._core.models import AuditEvent
from modqueue.queue._core.privacy_models import AuditPersonal, AuditSeal

__all__ = [
    "SEALED_EVENT",
    "VERIFY_BATCH",
    "ChainReport",
    "Walk",
    "audit_history",
    "event_dict",
    "personal_of",
    "problem_of",
    "seals_digest",
    "verify_chain",
]

VERIFY_BATCH = 5000
SEALED_EVENT = "audit_sealed"  # anchors the seals of migration 0016_privacy_retention


@dataclass(frozen=True, slots=True)
class ChainReport:
    """The result of `verify_chain`.

    `ok` is False at the first broken link: `broken_id` is the first event that does not
    verify, `problem` says how, `last_good_id` is the event before it in its chain (None
    at the chain's start). `head_id`/`head_hash` are the last event's; `heads` holds the
    last event of every chain, `(id, hash)` in chain order, and `chains` their chain
    numbers: write them down as external anchors (`verify_chain(anchors=...)`) or store
    them as a checkpoint (`write_checkpoint`).
    """

    ok: bool
    checked: int
    head_id: int | None
    head_hash: str | None
    heads: tuple[tuple[int, str], ...] = ()
    broken_id: int | None = None
    last_good_id: int | None = None
    problem: str | None = None
    chains: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return fields_dict(
            self, heads=[f"{i}:{h}" for i, h in self.heads], chains=list(self.chains)
        )


@dataclass(slots=True)
class Walk:
    """Where verification stands: each chain's last good event, and the last overall."""

    heads: dict[int, tuple[int, str]] = field(default_factory=dict)
    checked: int = 0
    last: tuple[int, str] | None = None

    def report(self, **failure: Any) -> ChainReport:
        """The report of the walk so far; `failure` names the broken link, if any."""
        return ChainReport(
            ok=not failure,
            checked=self.checked,
            head_id=self.last[0] if self.last else None,
            head_hash=self.last[1] if self.last else None,
            heads=tuple(self.heads[c] for c in sorted(self.heads)),
            chains=tuple(sorted(self.heads)),
            **failure,
        )


def problem_of(
    row: AuditEvent,
    chain_head: tuple[int, str] | None,
    sealed: str | None = None,
    personal: AuditPersonal | None = None,
) -> str | None:
    """Why `row` does not follow `chain_head` (its chain's previous event, None at the
    chain's start), or None when the link holds. `sealed` is the row's seal (a row whose
    personal fields a migration moved out), `personal` its stored personal fields."""
    prev_hash = chain_head[1] if chain_head else GENESIS_HASH
    if row.hash is None or row.prev_hash is None:
        return "it has no hash (written outside the audit chain)"
    if row.prev_hash != prev_hash:
        what = f"event {chain_head[0]}'s hash" if chain_head else "the chain's start"
        return (
            f"its prev_hash does not match {what}: an event before it was deleted, "
            "inserted or moved"
        )
    # A sealed event (personal fields moved out by a migration) verifies against its
    # seal; the seals themselves are anchored by the chained `audit_sealed` event.
    expected = sealed if sealed is not None else row.hash
    if expected != event_hash(row, prev_hash):
        return "its contents do not match its hash: the event was edited"
    if personal is not None:
        for part in PERSONAL_PARTS:
            for key, value in (getattr(row, part) or {}).items():
                path = f"{part}.{key}"
                stored = personal.data.get(path)
                if isinstance(stored, dict) and stored.keys() == {REDACTED}:
                    continue  # redacted on purpose (`[erased]`): no longer the digested value
                if path in personal.data and value != {
                    MARKER: personal_digest(personal.nonce, path, personal.data[path])
                }:
                    return f"its personal field {path} does not match its digest: it was edited"
    return None


def seals_digest(seals: Sequence[tuple[int, str]]) -> str:
    """The SHA-256 (hex) over `(event id, sealed hash)` pairs, in id order, that an
    `audit_sealed` event's detail records as `seals`."""
    lines = "".join(f"{i}:{h}\n" for i, h in sorted(seals))
    return hashlib.sha256(lines.encode()).hexdigest()


def _anchors_seals(row: AuditEvent, seals: dict[int, str]) -> bool:
    """True when `audit_sealed` event `row` records exactly the seals before it."""
    detail = row.detail or {}
    covered = [(i, h) for i, h in seals.items() if i < (row.id or 0)]
    return detail.get("count") == len(covered) and detail.get("seals") == seals_digest(covered)


def verify_chain(session: Session, *, anchors: Sequence[tuple[int, str]] = ()) -> ChainReport:
    """Walk the audit trail in id order and check every link of every chain.

    Detects an edited row (its hash no longer matches its contents), a deleted, inserted
    or reordered row (its `prev_hash` no longer matches the hash of the row before it in
    its chain) and a missing hash. A truncated tail leaves a valid shorter chain: pass
    `(id, hash)` anchors recorded earlier (`ChainReport.heads`) to detect it.
    """
    wanted = {int(i): h.lower() for i, h in anchors}
    seals: dict[int, str] = {
        int(i): str(h)
        for i, h in session.execute(select(col(AuditSeal.event_id), col(AuditSeal.sealed_hash)))
    }
    anchored = not seals
    walk = Walk()
    after = 0
    while True:
        rows = list(
            session.scalars(
                select(AuditEvent)
                .where(col(AuditEvent.id) > after)
                .order_by(col(AuditEvent.id))
                .limit(VERIFY_BATCH)
            )
        )
        if not rows:
            break
        personal = {
            p.event_id: p
            for p in session.scalars(
                select(AuditPersonal).where(
                    col(AuditPersonal.event_id) >= rows[0].id,
                    col(AuditPersonal.event_id) <= rows[-1].id,
                )
            )
        }
        for row in rows:
            assert row.id is not None
            chain_head = walk.heads.get(row.chain)
            problem = problem_of(row, chain_head, seals.get(row.id), personal.get(row.id))
            if problem is None and row.event == SEALED_EVENT and not anchored:
                # The latest migration's anchor covers every seal (a re-run of the
                # migration after a downgrade leaves an older, outdated anchor behind).
                anchored = _anchors_seals(row, seals)
            if problem is None and row.id in wanted and row.hash != wanted.pop(row.id):
                problem = "its hash differs from the anchor: the chain was rewritten"
            if problem is not None:
                return walk.report(
                    broken_id=row.id,
                    last_good_id=chain_head[0] if chain_head else None,
                    problem=problem,
                )
            walk.checked += 1
            walk.heads[row.chain] = walk.last = (row.id, row.hash or GENESIS_HASH)
        after = rows[-1].id or after
    if not anchored:
        return walk.report(
            broken_id=min(seals),
            last_good_id=walk.last[0] if walk.last else None,
            problem=(
                "the seals of events rewritten by a migration differ from their anchor "
                "(the audit_sealed event), or it is missing"
            ),
        )
    if wanted:
        missing = min(wanted)
        return walk.report(
            broken_id=missing,
            last_good_id=walk.last[0] if walk.last else None,
            problem="the anchored event is missing: the chain was truncated",
        )
    return walk.report()


def personal_of(session: Session, event_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """The personal fields still stored for `event_ids`: `{event id: {path: value}}`."""
    found: dict[int, dict[str, Any]] = {}
    for start in range(0, len(event_ids), VERIFY_BATCH):
        chunk = list(event_ids[start : start + VERIFY_BATCH])
        for p in session.scalars(
            select(AuditPersonal).where(col(AuditPersonal.event_id).in_(chunk))
        ):
            found[p.event_id] = p.data
    return found


def event_dict(row: AuditEvent, personal: dict[str, Any] | None = None) -> dict[str, Any]:
    """JSON-ready form of one audit event; `personal` (from `personal_of`) puts its
    personal fields back in place of their digests (erased ones read `"[erased]"`)."""
    return {
        "id": row.id,
        "at": row.at.isoformat(),
        "actor": row.actor,
        "event": row.event,
        "item_id": row.item_id,
        "before": merge_personal("before", row.before, personal),
        "after": merge_personal("after", row.after, personal),
        "detail": merge_personal("detail", row.detail, personal),
        "chain": row.chain,
        "prev_hash": row.prev_hash,
        "hash": row.hash,
    }


def audit_history(
    session: Session,
    *,
    item_id: int | None = None,
    actor: str | None = None,
    event: str | None = None,
    limit: int = 200,
) -> list[AuditEvent]:
    """The latest `limit` events (oldest first), filtered by item, actor and event name."""
    query = select(AuditEvent)
    if item_id is not None:
        query = query.where(col(AuditEvent.item_id) == item_id)
    if actor is not None:
        query = query.where(col(AuditEvent.actor) == actor)
    if event is not None:
        query = query.where(col(AuditEvent.event) == event)
    rows = list(session.scalars(query.order_by(col(AuditEvent.id).desc()).limit(limit)))
    rows.reverse()
    return rows
