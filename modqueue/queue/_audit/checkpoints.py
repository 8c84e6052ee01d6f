"""Audit checkpoints: verified chain heads, so a later verification starts there.

A checkpoint is written after a verification passed (`write_checkpoint`): one row per
chain with that chain's last verified event `(event_id, hash)`. `verify_since` first
checks the checkpoint against the trail (each recorded event must still be there with the
recorded hash: otherwise the chain was cut or rewritten since), then verifies only the
events after it, chain by chain through `ix_audit_event_chain`, so a nightly check reads
one night of events, not years.

Each chain's ids follow its append order, so walking a chain from its checkpointed head
checks exactly the links a full walk would. On PostgreSQL ids are taken from a sequence
and transactions on different chains commit in any order, which is why every chain
starts from its own head rather than from the highest id verified.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, insert, select, text
from sqlmodel import Session, col

from modqueue._exceptions import NotFound
from modqueue.queue._audit.log import VERIFY_BATCH, ChainReport, Walk, problem_of
from modqueue.queue._core.models import AuditCheckpoint, AuditEvent
from modqueue.queue._core.privacy_models import AuditPersonal, AuditSeal

__all__ = ["latest_checkpoint", "verify_since", "write_checkpoint"]

# Every chain number in the trail, one index probe each (a loose index scan).
_CHAINS = text(
    "WITH RECURSIVE c(chain) AS ("
    "SELECT MIN(chain) FROM audit_event "
    "UNION ALL SELECT (SELECT MIN(chain) FROM audit_event WHERE chain > c.chain) "
    "FROM c WHERE c.chain IS NOT NULL) "
    "SELECT chain FROM c WHERE chain IS NOT NULL"
)


def latest_checkpoint(session: Session) -> int | None:
    """The number of the newest checkpoint, or None when none was written."""
    return session.scalar(select(func.max(col(AuditCheckpoint.checkpoint))))


def write_checkpoint(session: Session, *, report: ChainReport, now: datetime) -> int | None:
    """Store the heads of a verification that passed as a new checkpoint; its number, or
    None when the trail is empty (nothing to start from).

    Raises `ValueError` for a report that did not pass: only verified heads are stored.
    """
    if not report.ok:
        raise ValueError("only a verification that passed can be stored as a checkpoint")
    if not report.heads:
        return None
    number = (latest_checkpoint(session) or 0) + 1
    session.execute(
        insert(AuditCheckpoint),
        [
            {
                "checkpoint": number,
                "chain": chain,
                "event_id": event_id,
                "hash": digest,
                "checked_at": now,
            }
            for chain, (event_id, digest) in zip(report.chains, report.heads, strict=True)
        ],
    )
    return number


def _checkpoint_heads(session: Session, checkpoint: int) -> dict[int, tuple[int, str]]:
    rows = session.scalars(
        select(AuditCheckpoint).where(col(AuditCheckpoint.checkpoint) == checkpoint)
    ).all()
    if not rows:
        known = latest_checkpoint(session)
        hint = f"the newest is {known}" if known else "none was written yet: run a full verify"
        raise NotFound(f"audit checkpoint {checkpoint} does not exist ({hint})")
    return {r.chain: (r.event_id, r.hash) for r in rows}


def _anchor_problem(
    session: Session, checkpoint: int, chain: int, head: tuple[int, str]
) -> str | None:
    stored = session.execute(
        select(col(AuditEvent.chain), col(AuditEvent.hash)).where(col(AuditEvent.id) == head[0])
    ).one_or_none()
    if stored is None:
        return (
            f"event {head[0]}, chain {chain}'s head at checkpoint {checkpoint}, is missing: "
            "the chain was cut (its last events deleted) or rewritten"
        )
    if stored[0] != chain or stored[1] != head[1]:
        return (
            f"event {head[0]} no longer matches checkpoint {checkpoint} (chain {chain}): "
            "the chain was rewritten; this checkpoint cannot be trusted, run a full verify"
        )
    return None


def verify_since(
    session: Session, *, checkpoint: int, anchors: Sequence[tuple[int, str]] = ()
) -> ChainReport:
    """Verify the audit trail from checkpoint `checkpoint` on: the checkpoint must still
    match the trail, and every event after it must link to the one before in its chain.

    `checked` counts the events read after the checkpoint; `heads` are every chain's
    head (the checkpoint's own for chains with nothing new). `anchors` (`(id, hash)`
    recorded elsewhere) must still be there with that hash. Raises `NotFound` for an
    unknown checkpoint.
    """
    start = _checkpoint_heads(session, checkpoint)
    walk = Walk(heads=dict(start))
    for chain in sorted(start):
        problem = _anchor_problem(session, checkpoint, chain, start[chain])
        if problem is not None:
            return walk.report(broken_id=start[chain][0], last_good_id=None, problem=problem)
    for event_id, digest in anchors:
        stored = session.scalar(select(col(AuditEvent.hash)).where(col(AuditEvent.id) == event_id))
        if stored is None or stored != digest.lower():
            what = "missing: the chain was truncated" if stored is None else "rewritten"
            return walk.report(
                broken_id=int(event_id),
                last_good_id=None,
                problem=f"the anchored event is {what}",
            )
    chains = sorted(set(start) | {int(c) for c in session.execute(_CHAINS).scalars()})
    for chain in chains:
        after = start[chain][0] if chain in start else 0
        while True:
            rows = session.scalars(
                select(AuditEvent)
                .where(col(AuditEvent.chain) == chain, col(AuditEvent.id) > after)
                .order_by(col(AuditEvent.id))
                .limit(VERIFY_BATCH)
            ).all()
            if not rows:
                break
            ids = [row.id for row in rows]
            personal = {
                p.event_id: p
                for p in session.scalars(
                    select(AuditPersonal).where(col(AuditPersonal.event_id).in_(ids))
                )
            }
            seals = {
                int(i): str(h)
                for i, h in session.execute(
                    select(col(AuditSeal.event_id), col(AuditSeal.sealed_hash)).where(
                        col(AuditSeal.event_id).in_(ids)
                    )
                )
            }
            for row in rows:
                assert row.id is not None
                chain_head = walk.heads.get(chain)
                problem = problem_of(row, chain_head, seals.get(row.id), personal.get(row.id))
                if problem is not None:
                    return walk.report(
                        broken_id=row.id,
                        last_good_id=chain_head[0] if chain_head else None,
                        problem=problem,
                    )
                walk.checked += 1
                walk.heads[chain] = (row.id, row.hash or "")
            after = rows[-1].id or after
    heads = list(walk.heads.values())
    walk.last = max(heads) if heads else None
    return walk.report()
