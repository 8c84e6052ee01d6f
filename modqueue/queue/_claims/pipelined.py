"""`claim_next` on PostgreSQL in two round trips: one pipeline, then the commit.

The claim of `leases.claim_next` inside `ReviewQueue.run` takes four round trips (BEGIN,
the reviewer lookup that also takes the audit chain's lock, the claim statement,
COMMIT) and an ORM session's Python around them. Only the first two statements depend on
each other through Python: the claim statement needs the queues authorization allows
and the chain and id the lookup took. Here neither waits for the lookup's answer:

- The queues are those asked for, or by default the queues authorization chose for the
  reviewer's last claim (`claimable_queues`: None, every queue but the senior ones,
  unless the reviewer's grants are limited). The lookup runs in the same transaction
  and authorization decides on what it read (`claim_allowed`, the decision `authorize`
  makes): the claim commits only if it allows the claim and chooses the queues the
  statement took from. Otherwise the transaction rolls back and the claim goes the usual
  way, which refuses and audits a refusal itself.
- The chain and the id: the lookup leaves them in the transaction
  (`AUDIT_NEXT_SETTING`) and the claim statement reads them there
  (`inline_append_cte(..., ids_from_setting=True)`). The lookup took the chain's lock
  in an earlier statement, so the claim statement's snapshot sees the chain's head
  under the lock, as on the usual path.

So BEGIN, the lookup and the claim go in one psycopg pipeline on the pool's driver
connection, with no ORM session; Python checks what came back (authorization, the
audit event's hash against its own, the lease) and commits, or rolls back. Whatever
this path cannot do (no chain free, an id behind the head, personal values in the
event, a database error, a refusal, other queues) ends in `Unpipelined` with nothing
written, and the caller claims the usual way, with its retries.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Engine

from modqueue.queue._access.rules import claim_allowed
from modqueue.queue._audit.inline import expected_hash, inline_params
from modqueue.queue._claims.exposure import ClaimHold, ClaimSeen
from modqueue.queue._claims.leases import (
    Claim,
    _claim_from_mapping,
    _claim_statement,
    _with_second_reviews,
    claim_event,
    claim_params,
    claimed_row,
)
from modqueue.queue._transaction import claim_lookup, read_claim_lookup

__all__ = ["Chosen", "Unpipelined", "claim_pipelined", "pipelines"]


class Chosen(NamedTuple):
    """The queues authorization chose for a claim (None: every queue but the senior
    ones)."""

    queues: tuple[str, ...] | None


class Unpipelined(Exception):
    """The pipelined claim did not happen (nothing written): claim the usual way.
    `chosen`: authorization allowed the claim but on other queues than those sent."""

    def __init__(self, why: str, chosen: Chosen | None = None) -> None:
        super().__init__(why)
        self.chosen = chosen


def pipelines(engine: Engine) -> bool:
    """Whether claims on `engine` may be pipelined: PostgreSQL through psycopg, and no
    `before_cursor_execute` listener (which sees every statement of the usual path and
    would miss these)."""
    dialect = engine.dialect
    return (
        dialect.name == "postgresql"
        and dialect.driver == "psycopg"
        and not engine.dispatch.before_cursor_execute
    )


def claim_pipelined(
    engine: Engine,
    *,
    reviewer: str,
    queues: tuple[str, ...] | None,
    chosen: tuple[str, ...] | None,
    lease_seconds: int,
    now: datetime,
    hold: ClaimHold | None,
    seen: ClaimSeen | None,
    service: str | None,
) -> Claim | None:
    """`leases.claim_next` for `reviewer` asking for `queues` (None: by default), taking
    from `chosen` (what authorization is expected to choose), in one pipeline (BEGIN,
    reviewer lookup, claim) and a commit; None when nothing is claimable. Raises
    `Unpipelined` (nothing written) when the usual path must claim instead."""
    import psycopg  # loaded by the psycopg dialect already

    wanted = _with_second_reviews(chosen) if chosen else []
    params = claim_params(
        reviewer=reviewer,
        wanted=wanted,
        lease_seconds=lease_seconds,
        now=now,
        hold=hold,
        seen=seen,
    )
    event, expires_text = claim_event(reviewer, now, params["expires"])
    inline = inline_params(event, service)
    if inline is None:
        raise Unpipelined("the event has personal values to split off")
    record, audit_params = inline
    params |= audit_params
    graphic = len(hold.graphic) if hold else 0
    claim = _claim_statement(
        "postgresql", len(wanted), graphic, seen is not None, False, True, True
    )
    lookup, lookup_params = claim_lookup(reviewer)
    dialect = engine.dialect
    lookup_call = lookup.driver_call(dialect, lookup_params)
    claim_call = claim.driver_call(dialect, params)
    pooled = engine.raw_connection()
    try:
        driver: psycopg.Connection[Any] = pooled.driver_connection  # type: ignore[assignment]
        cursors = _kept_cursors(pooled.info, driver)
        try:
            looked, found = _send(driver, cursors, lookup_call, claim_call)
            found_by = read_claim_lookup(lookup.processed(dialect, looked, cursors[1]), reviewer)
            chain, next_id = found_by.chain, found_by.next_id
            allowed, queues_now = claim_allowed(
                found_by.principal, found_by.open_mode, reviewer=reviewer, queues=queues
            )
            now_chosen = tuple(queues_now) if queues_now is not None else None
            if not allowed:
                driver.rollback()
                raise Unpipelined("refused: the usual path refuses, and audits it")
            if now_chosen != chosen:
                driver.rollback()
                raise Unpipelined("authorization chose other queues", Chosen(now_chosen))
            if chain is None:
                driver.rollback()
                raise Unpipelined("no audit chain was free")
            claimed = claim.processed(dialect, found, cursors[2])
            if not claimed:
                # Nothing written: COMMIT ends it as ROLLBACK would, but a ROLLBACK
                # also makes psycopg deallocate the connection's prepared statements.
                driver.commit()
                return None
            row = claimed_row(claimed[0], expires_text)
            event_id, event_hash, prev_hash, event_chain = claimed[0][-4:]
            if event_id is None:  # the id taken ahead was behind the head
                driver.rollback()
                raise Unpipelined("the audit id taken ahead was behind the chain's head")
            expected = expected_hash(
                record, event_id=event_id, chain=chain, item_id=row["id"], prev_hash=prev_hash
            )
            if (event_id, event_chain) != (next_id, chain) or event_hash != expected:
                driver.rollback()
                raise AssertionError(
                    f"audit event {event_id}: the database hashed {event_hash} on chain "
                    f"{event_chain}, Python {expected} on chain {chain}"
                )
            driver.commit()
        except psycopg.Error as exc:
            _abandon(pooled, driver)
            raise Unpipelined(f"database error: {exc.sqlstate or exc}") from exc
    finally:
        pooled.close()
    return _claim_from_mapping(row)


# The claim's transaction settings, in one statement ahead of the lookup:
#
# - `plan_cache_mode`: a prepared statement is planned for its values (a custom plan) on
#   its first five runs before PostgreSQL compares with the generic plan; the claim
#   statement takes 3-15 ms to plan at 10M items, so every new connection's first claims
#   (about one in a hundred in a benchmark of 1,000) paid that. Its generic plan is the
#   plan those custom ones settle on (the same indexes whatever the values), so the
#   claim asks for it from the start, prepared on the server from its first run: one
#   planning per connection.
# - `synchronous_commit = off`: the COMMIT returns once its WAL is written, before it
#   is flushed (measured: p50 10.3 -> 8.1 ms, p99 32 -> 24 ms at load 7.6, claims
#   alternating). A server crash can then lose the claims of its last moments (at most
#   three `wal_writer_delay`s): each whole (atomic), with its `claimed` event and its
#   exposure row, the item back to pending as if the claim had not happened. The audit
#   chain stays whole: WAL is flushed in order, so any later durable commit (decisions,
#   releases, everything else is synchronous) flushes the claims before it, and a lost
#   claim is only ever the chain's tail. The reviewer's next step on a lost claim
#   (decide, release, renew: synchronous, token checked under the row lock) fails with
#   `ClaimLost`/`LeaseExpired` and they claim again.
_SETTINGS = (
    "SELECT set_config('plan_cache_mode', 'force_generic_plan', true), "
    "set_config('synchronous_commit', 'off', true)"
)


_CURSORS = "modqueue.claim_cursors"


def _kept_cursors(info: dict[Any, Any], driver: Any) -> tuple[Any, Any, Any]:
    """The claim's three cursors on `driver` (settings, lookup, claim), kept in the pool's
    record of the connection (`info`) from one claim to the next: a psycopg cursor that
    runs the same query object again keeps its adaptation (the dumper of each
    parameter's type, the loader of each column), which a new cursor looks up anew for
    the claim's 35 parameters and 40 columns. A kept cursor holds nothing between claims
    but the rows of the last one; a connection that breaks leaves the pool with them."""
    kept: tuple[Any, Any, Any] | None = info.get(_CURSORS)
    if kept is None or kept[0].connection is not driver or any(c.closed for c in kept):
        import psycopg

        kept = psycopg.RawCursor(driver), psycopg.RawCursor(driver), psycopg.RawCursor(driver)
        info[_CURSORS] = kept
    return kept


def _send(
    driver: Any,
    cursors: tuple[Any, Any, Any],
    lookup: tuple[str, Sequence[Any] | Any],
    claim: tuple[str, Sequence[Any] | Any],
) -> tuple[list[Any], list[Any]]:
    """BEGIN, the lookup and the claim in one pipeline, on `cursors`: their rows."""
    settings, looked, claimed = cursors
    with driver.pipeline():
        settings.execute(_SETTINGS)
        looked.execute(*lookup, prepare=True)
        claimed.execute(*claim, prepare=True)
    return looked.fetchall(), claimed.fetchall()


def _abandon(pooled: Any, driver: Any) -> None:
    """Roll back after a database error; a connection that broke leaves the pool."""
    if driver.closed or driver.broken:
        pooled.invalidate()
        return
    try:
        driver.rollback()
    except Exception:
        pooled.invalidate()
