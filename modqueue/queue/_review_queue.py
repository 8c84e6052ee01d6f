"""`ReviewQueue`: the public face of the queue, one transaction per call."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlmodel import Session, col

from modqueue._exceptions import NotFound, PermissionDenied
from modqueue.guidelines import GuidelineSet, load_guidelines
from modqueue.queue._access.reviewers import authenticate, authenticate_os_user
from modqueue.queue._access.rules import (
    Permission,
    access_summary,
    authorize,
    claimable_queues,
    refuse,
)
from modqueue.queue._audit.chain import SERVICE_KEY, record_event
from modqueue.queue._claims import exposure, leases
from modqueue.queue._claims.exposure import ExposureStatus, ReviewerExposure
from modqueue.queue._claims.leases import Claim
from modqueue.queue._claims.pipelined import Unpipelined, claim_pipelined, pipelines
from modqueue.queue._core.cluster_models import (
    ClusterDecision,
    ClusterDecisionPublic,
    ContentCluster,
)
from modqueue.queue._core.db import make_engine, migrate, read_session
from modqueue.queue._core.exposure_config import ExposureConfig, ExposureKind
from modqueue.queue._core.exposure_models import ExposureLift
from modqueue.queue._core.flood_config import FloodsConfig
from modqueue.queue._core.models import Decision, DecisionPublic, Item, ItemPublic
from modqueue.queue._core.quality_config import QualityConfig
from modqueue.queue._core.referrals import TrustedFlagger
from modqueue.queue._core.routing import policy_of_queue, senior_queue
from modqueue.queue._core.types import ItemStatus, utcnow
from modqueue.queue._decisions import clusters, pipeline
from modqueue.queue._decisions import incidents as incident_decisions
from modqueue.queue._items import floods as flood_folding
from modqueue.queue._items.ingest import IngestReport
from modqueue.queue._items.lines import ingest_values
from modqueue.queue._read import clusters as cluster_reads
from modqueue.queue._read import incidents as incident_reads
from modqueue.queue._read.dashboard import DashboardMetrics, dashboard_metrics
from modqueue.queue._read.desk import RevealedMedia, record_media_reveal, record_reveal
from modqueue.queue._read.stats import queue_stats
from modqueue.queue._transaction import open_claim_transaction, open_transaction
from modqueue.settings import Settings, load_settings

__all__ = ["ReviewQueue"]

T = TypeVar("T")
RETRYABLE_SQLSTATES = {"40001", "40P01"}  # serialization failure, deadlock
DEFAULT_UNDO_GRACE_SECONDS = 30.0
_CLAIM_QUEUES = 1024  # reviewers (and queue lists) whose chosen queues `claim_next` keeps


def _is_retryable(exc: OperationalError) -> bool:
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate in RETRYABLE_SQLSTATES:
        return True
    return "database is locked" in str(exc.orig)


class ReviewQueue:
    """The review queue on one database.

    ```python
    from modqueue import ReviewQueue

    q = ReviewQueue("sqlite:///modqueue.db")
    q.enqueue([{"source": "platform-reports", "external_id": "post-1", "text": "..."}])
    claim = q.claim_next("alice")
    if claim:
        q.decide(claim, "no-violation")
    ```

    The schema is created or upgraded on first use. Every method runs in its own
    transaction; deadlocks and SQLite lock time-outs are retried a few times, and so is
    a transaction whose PostgreSQL connection turned out broken before it committed. `quality`
    sets the share of decisions that get a blind second review (default 10%); `exposure`
    the reviewers' per-shift exposure budgets (`[exposure]`, on by default); `floods` when
    many items from one origin fold into one incident for the lead (`[floods]`).
    """

    def __init__(
        self,
        database_url: str | None = None,
        *,
        guidelines: GuidelineSet | Path | None = None,
        settings: Settings | None = None,
        lease_seconds: int | None = None,
        clock: Callable[[], datetime] = utcnow,
        auto_migrate: bool = True,
        quality: QualityConfig | None = None,
        exposure: ExposureConfig | None = None,
        floods: FloodsConfig | None = None,
    ) -> None:
        self.settings = settings or load_settings(database_url=database_url)
        if database_url is not None and settings is not None:
            self.settings = settings.model_copy(update={"database_url": database_url})
        self.database_url = self.settings.database_url
        self.engine = make_engine(
            self.database_url, busy_timeout_ms=self.settings.sqlite_busy_timeout_ms
        )
        self.read_engine = self.engine
        """Where read-only work goes (`read`, `read_session`): the engine of
        `MODQUEUE_READ_DATABASE_URL` (a replica) when set, else `engine`."""
        read_url = self.settings.read_database_url
        if read_url is not None and read_url != self.database_url:
            self.read_engine = make_engine(
                read_url, busy_timeout_ms=self.settings.sqlite_busy_timeout_ms
            )
        if isinstance(guidelines, GuidelineSet):
            self.guidelines = guidelines
        else:
            self.guidelines = load_guidelines(guidelines or self.settings.guidelines)
        self.lease_seconds = lease_seconds or self.settings.lease_seconds
        self.clock = clock
        self.quality = quality or QualityConfig(
            second_review_share=self.settings.second_review_share
        )
        self.exposure = exposure or ExposureConfig()
        self.flaggers: dict[str, TrustedFlagger] = {}
        """Sources declared trusted flaggers (`[sources.NAME] trusted_flagger`), by name."""
        self.floods = floods or FloodsConfig()
        self._claim_queues: dict[tuple[str, tuple[str, ...] | None], tuple[str, ...] | None] = {}
        """The queues authorization chose for a reviewer's claims (by reviewer and the
        queues asked), where they are not the queues asked (`claim_next`)."""
        self.service: str | None = None
        """The verified service identity of a service process: named in every audit event
        it writes (`detail.service`)."""
        if auto_migrate:
            migrate(self.engine)

    # -- plumbing ---------------------------------------------------------------------

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on error."""
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            if self.service is not None:
                session.info[SERVICE_KEY] = self.service
            yield open_transaction(session)

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """A session in one read-only transaction (`read_session`) on `read_engine` (the
        read replica, when configured): on SQLite it takes no writers' lock, so it runs
        beside a writer; a write in it fails. Refusals it audits go to the primary."""
        with read_session(self.read_engine, write_engine=self.engine) as session:
            yield session

    def run(self, work: Callable[[Session], T], *, attempts: int = 5) -> T:
        """Run `work(session)` in one transaction, retrying deadlocks and lock time-outs."""
        return self._retrying(self.session, work, attempts)

    def read(self, work: Callable[[Session], T], *, attempts: int = 5) -> T:
        """Run `work(session)`, which only reads, in one read-only transaction, on the
        read replica when `MODQUEUE_READ_DATABASE_URL` is set: on SQLite it neither waits
        for nor holds up the writers (stats, dashboards, lists, exports, audit
        verification). Refusals it raises are still audited (after it ends, on the
        primary)."""
        return self._retrying(self.read_session, work, attempts)

    @staticmethod
    def _retrying(
        opener: Callable[[], AbstractContextManager[Session]],
        work: Callable[[Session], T],
        attempts: int,
    ) -> T:
        for attempt in range(1, attempts + 1):
            committing = False
            try:
                with opener() as session:
                    result = work(session)
                    committing = True  # the commit follows
                return result
            except DBAPIError as exc:
                # A connection found broken (a server restart: the pool is invalidated)
                # before the commit: nothing was written, run it again on a new one.
                lost = exc.connection_invalidated and not committing
                retry = lost or (isinstance(exc, OperationalError) and _is_retryable(exc))
                if attempt == attempts or not retry:
                    raise
                if not lost:
                    time.sleep(random.uniform(0.01, 0.05) * attempt)
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()
        if self.read_engine is not self.engine:
            self.read_engine.dispose()

    def __enter__(self) -> ReviewQueue:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- ingest -----------------------------------------------------------------------

    def enqueue(
        self,
        items: Iterable[Any],
        *,
        strict: bool = False,
        actor: str = "ingest",
        batch_size: int = 1000,
        positions: Sequence[int] | None = None,
    ) -> IngestReport:
        """Add flagged items (dicts in the ingest format); bulk and idempotent.

        Returns counts of new and merged items and every rejection with its reason;
        `position` is the item's index in `items`, or `positions[index]` when given (the
        CLI passes line numbers). Valid items are stored in batches of `batch_size`, each
        committed as it goes, so a bad item never loses good ones. With `strict=True`
        nothing is stored unless every item is valid.
        """
        return ingest_values(
            self,
            items,
            strict=strict,
            actor=actor,
            batch_size=batch_size,
            positions=positions,
        )

    # -- claiming ---------------------------------------------------------------------

    def claim_next(self, reviewer: str, queues: list[str] | None = None) -> Claim | None:
        """Lease the highest-priority pending item of `queues` (default: every queue but
        the senior ones) to `reviewer`, or return None when there is none.

        Once reviewers are registered, `reviewer` may only claim from policies granted to
        them (by default: all of those), and only seniors from senior queues; otherwise
        `PermissionDenied`.

        On PostgreSQL the claim is pipelined (`_claims.pipelined`: two round trips, no
        ORM session); what that path cannot do (a refusal, among others) runs the usual
        way.
        """
        if pipelines(self.engine):
            asked = tuple(queues) if queues else None
            now = self.clock()
            try:
                return claim_pipelined(
                    self.engine,
                    reviewer=reviewer,
                    queues=asked,
                    chosen=self._claim_queues.get((reviewer, asked), asked),
                    lease_seconds=self.lease_seconds,
                    now=now,
                    hold=exposure.claim_hold(
                        reviewer=reviewer, now=now, config=self.exposure, guidelines=self.guidelines
                    ),
                    seen=exposure.claim_seen(self.exposure, self.guidelines),
                    service=self.service,
                )
            except Unpipelined as exc:
                if exc.chosen is not None:
                    if len(self._claim_queues) >= _CLAIM_QUEUES:
                        self._claim_queues.clear()
                    self._claim_queues[reviewer, asked] = exc.chosen.queues

        def work(s: Session) -> Claim | None:
            open_claim_transaction(s)  # the claim statement reads the chain's head itself
            now = self.clock()
            chosen = self._claimable(s, reviewer, queues, now)
            # The exposure budget's hold is a condition of the claim statement: no read.
            hold = exposure.claim_hold(
                reviewer=reviewer, now=now, config=self.exposure, guidelines=self.guidelines
            )
            return leases.claim_next(
                s,
                reviewer=reviewer,
                queues=chosen,
                lease_seconds=self.lease_seconds,
                now=now,
                hold=hold,
                seen=exposure.claim_seen(self.exposure, self.guidelines),
            )

        return self.run(work)

    # -- exposure budgets -----------------------------------------------------------------

    def _exposure(self, s: Session, reviewer: str, now: datetime) -> ExposureStatus:
        return exposure.exposure_status(
            s, reviewer=reviewer, now=now, config=self.exposure, guidelines=self.guidelines
        )

    def _shown(self, s: Session, claim: Claim, kinds: tuple[str, ...], now: datetime) -> None:
        exposure.record_exposure(
            s,
            reviewer=claim.reviewer,
            item_id=claim.item_id,
            queue=claim.queue,
            policy=claim.item.policy,
            kinds=kinds,
            now=now,
            config=self.exposure,
            guidelines=self.guidelines,
        )

    def exposure_status(self, reviewer: str, *, of: str | None = None) -> ExposureStatus:
        """The exposure of `reviewer` this shift, or with `of`, another reviewer's (which
        needs `VIEW_PERSONAL_EXPOSURE`: per-person figures are sensitive)."""

        def work(s: Session) -> ExposureStatus:
            now = self.clock()
            if of is not None and of != reviewer:
                authorize(
                    s, reviewer=reviewer, permission=Permission.VIEW_PERSONAL_EXPOSURE, now=now
                )
            return self._exposure(s, of or reviewer, now)

        return self.read(work)

    def record_reveal(
        self, claim: Claim, *, text: bool, media: bool, files: Sequence[RevealedMedia] = ()
    ) -> None:
        """Audit that the holder of `claim` revealed its graphic text and/or media, and
        add the reveal to their exposure (media counts most). Each of `files` (images
        and video thumbnails shown unprotected) is also audited as `media_revealed`, in
        the same transaction."""
        shown = [
            (what, kind)
            for what, kind, on in (
                ("graphic text", ExposureKind.TEXT, text),
                ("media links", ExposureKind.MEDIA, media),
            )
            if on
        ]
        if not shown:
            return
        what = ", ".join(w for w, _ in shown)
        kinds = tuple(k for _, k in shown)

        def work(s: Session) -> None:
            now = self.clock()
            record_reveal(s, claim=claim, now=now, what=what)
            self._shown(s, claim, kinds, now)
            for file in files:
                record_media_reveal(
                    s,
                    claim=claim,
                    now=now,
                    policy=file.policy,
                    media_kind=file.media_kind,
                    protection=file.protection,
                    media_index=file.media_index,
                )

        self.run(work)

    def record_checkin(self, reviewer: str) -> None:
        """Keep that a check-in was offered to `reviewer` (only that)."""
        self.run(lambda s: exposure.record_checkin(s, reviewer=reviewer, now=self.clock()))

    def lift_exposure(self, lead: str, reviewer: str, *, reason: str = "") -> ExposureLift:
        """Let `reviewer` have graphic work again for one shift, by `lead`
        (`LIFT_EXPOSURE`, lead and above; audited as `exposure_lifted`)."""

        def work(s: Session) -> ExposureLift:
            now = self.clock()
            authorize(s, reviewer=lead, permission=Permission.LIFT_EXPOSURE, now=now)
            return exposure.lift_exposure(
                s, reviewer=reviewer, lead=lead, now=now, config=self.exposure, reason=reason
            )

        return self.run(work)

    def exposure_people(self, actor: str) -> list[ReviewerExposure]:
        """Every reviewer's exposure this shift (`VIEW_PERSONAL_EXPOSURE`, admins)."""

        def work(s: Session) -> list[ReviewerExposure]:
            now = self.clock()
            authorize(s, reviewer=actor, permission=Permission.VIEW_PERSONAL_EXPOSURE, now=now)
            since = now - timedelta(hours=self.exposure.shift_hours)
            return exposure.exposure_by_reviewer(s, since=since)

        return self.read(work)

    def _claimable(
        self, s: Session, reviewer: str, queues: list[str] | None, now: datetime
    ) -> list[str] | None:
        if queues:
            for name in queues:
                authorize(s, reviewer=reviewer, permission=Permission.CLAIM, queue=name, now=now)
            return queues
        record = authorize(s, reviewer=reviewer, permission=Permission.CLAIM, now=now)
        chosen = claimable_queues(record)
        if chosen is not None and not chosen:
            raise refuse(
                s,
                f"reviewer {reviewer!r} has no policies granted: an admin can run "
                f"`modqueue reviewers grant {reviewer} --policy POLICY`",
                actor=reviewer,
                detail={"permission": Permission.CLAIM.value},
                now=now,
            )
        return chosen

    def _authorize_item(
        self,
        s: Session,
        reviewer: str,
        permission: Permission,
        item_id: int,
        now: datetime,
        queue: str | None = None,
    ) -> None:
        # A claim's queue is the item's for as long as the claim holds (moving the item
        # ends the claim), so work on a claim skips the lookup.
        if queue is None:
            queue = s.scalar(select(col(Item.queue)).where(col(Item.id) == item_id))
        if queue is None:
            raise NotFound(f"item {item_id} does not exist")
        authorize(
            s, reviewer=reviewer, permission=permission, queue=queue, item_id=item_id, now=now
        )

    def claim(self, item_id: int, reviewer: str) -> Claim:
        """Lease a given item to `reviewer` (or return the claim they already hold)."""

        def work(s: Session) -> Claim:
            now = self.clock()
            self._authorize_item(s, reviewer, Permission.CLAIM, item_id, now)
            return leases.claim_item(
                s,
                item_id=item_id,
                reviewer=reviewer,
                lease_seconds=self.lease_seconds,
                now=now,
            )

        return self.run(work)

    def renew(self, claim: Claim) -> Claim:
        """Extend a live claim's lease."""

        def work(s: Session) -> Claim:
            now = self.clock()
            self._authorize_item(
                s, claim.reviewer, Permission.RELEASE, claim.item_id, now, claim.queue
            )
            return leases.renew(s, claim=claim, lease_seconds=self.lease_seconds, now=now)

        return self.run(work)

    def release(self, claim: Claim, note: str = "") -> None:
        """Skip: give the item back to its queue."""

        def work(s: Session) -> None:
            now = self.clock()
            self._authorize_item(
                s, claim.reviewer, Permission.RELEASE, claim.item_id, now, claim.queue
            )
            leases.release(s, claim=claim, note=note, now=now)

        self.run(work)

    def escalate(self, claim: Claim, note: str) -> str:
        """Move the item to its policy's senior queue; returns that queue's name."""

        def work(s: Session) -> str:
            now = self.clock()
            self._authorize_item(
                s, claim.reviewer, Permission.ESCALATE, claim.item_id, now, claim.queue
            )
            return pipeline.escalate(s, claim=claim, note=note, now=now)

        return self.run(work)

    def expire_leases(self) -> int:
        """Return expired claims to pending; the number returned."""
        return self.run(lambda s: leases.expire_leases(s, now=self.clock()))

    # -- flood incidents (leads: `MANAGE_FLOODS`) -------------------------------------------

    def list_incidents(
        self, actor: str, *, status: str | None = None, limit: int = 50
    ) -> list[incident_reads.IncidentSummary]:
        """Flood incidents, open ones first (`MANAGE_FLOODS`, lead and above)."""

        def work(s: Session) -> list[incident_reads.IncidentSummary]:
            authorize(s, reviewer=actor, permission=Permission.MANAGE_FLOODS, now=self.clock())
            return incident_reads.list_incidents(s, status=status, limit=limit)

        return self.read(work)

    def show_incident(self, incident_id: int, actor: str) -> incident_reads.IncidentView:
        """One incident with its items (`MANAGE_FLOODS`)."""

        def work(s: Session) -> incident_reads.IncidentView:
            authorize(s, reviewer=actor, permission=Permission.MANAGE_FLOODS, now=self.clock())
            return incident_reads.show_incident(s, incident_id=incident_id)

        return self.read(work)

    def decide_incident(
        self, incident_id: int, actor: str, label: str, *, note: str = ""
    ) -> incident_decisions.IncidentOutcome:
        """Decide every folded item of an open incident with `label`, set-based, through
        the decision pipeline (`MANAGE_FLOODS`, and `DECIDE` on every queue the items are
        in; audited per item and as `incident_decided`)."""

        def work(s: Session) -> incident_decisions.IncidentOutcome:
            now = self.clock()
            authorize(s, reviewer=actor, permission=Permission.MANAGE_FLOODS, now=now)
            folded = flood_folding.incident_items(
                s, incident_id=incident_id, status=ItemStatus.FOLDED.value
            )
            queues = set()
            for part in range(0, len(folded), 900):
                queues |= set(
                    s.scalars(
                        select(col(Item.queue))
                        .where(col(Item.id).in_(folded[part : part + 900]))
                        .distinct()
                    )
                )
            for queue in sorted(queues):
                authorize(
                    s,
                    reviewer=actor,
                    permission=Permission.DECIDE,
                    queue=queue,
                    now=now,
                    detail={"incident_id": incident_id},
                )
            return incident_decisions.decide_incident(
                s,
                incident_id=incident_id,
                actor=actor,
                label=label,
                guidelines=self.guidelines,
                now=now,
                note=note,
                quality=self.quality,
            )

        return self.run(work)

    def dismiss_incident(self, incident_id: int, actor: str, *, note: str = "") -> list[int]:
        """Dismiss an open incident: its folded items go back to the reviewers; returns
        them (`MANAGE_FLOODS`; audited `incident_dismissed`)."""

        def work(s: Session) -> list[int]:
            now = self.clock()
            authorize(s, reviewer=actor, permission=Permission.MANAGE_FLOODS, now=now)
            return flood_folding.dismiss_incident(
                s, incident_id=incident_id, actor=actor, now=now, note=note
            )

        return self.run(work)

    def mute_reporter(
        self, reporter_id: str, actor: str, *, reason: str = ""
    ) -> list[flood_folding.FoldOutcome]:
        """Mute a reporter: their recent pending items and every later report fold into
        their incident (`MANAGE_FLOODS`; audited `reporter_muted`)."""

        def work(s: Session) -> list[flood_folding.FoldOutcome]:
            now = self.clock()
            authorize(s, reviewer=actor, permission=Permission.MANAGE_FLOODS, now=now)
            return flood_folding.mute_reporter(
                s, reporter_id=reporter_id, actor=actor, now=now, config=self.floods, reason=reason
            )

        return self.run(work)

    def mark_source_unreliable(self, source: str, actor: str, *, reason: str = "") -> list[int]:
        """Lower signal source `source`'s weight in priority to `[floods]
        unreliable_weight`; returns the items rescored (`MANAGE_FLOODS`; audited
        `source_unreliable`)."""

        def work(s: Session) -> list[int]:
            now = self.clock()
            authorize(s, reviewer=actor, permission=Permission.MANAGE_FLOODS, now=now)
            return flood_folding.mark_source_unreliable(
                s,
                source=source,
                actor=actor,
                guidelines=self.guidelines,
                now=now,
                config=self.floods,
                reason=reason,
            )

        return self.run(work)

    # -- deciding ---------------------------------------------------------------------

    def decide(
        self, claim: Claim, label: str, note: str = "", *, origin: str = "api"
    ) -> DecisionPublic:
        """Decide a claimed item: decision, audit event and outbound action, atomically.

        Raises `LeaseExpired` or `ClaimLost` when the claim no longer holds, and
        `UnknownLabel` for a label the item's guideline does not define, and
        `PermissionDenied` when the reviewer may not decide in the item's queue (senior
        queues need a senior).
        """

        def work(s: Session) -> DecisionPublic:
            now = self.clock()
            self._authorize_item(
                s, claim.reviewer, Permission.DECIDE, claim.item_id, now, claim.queue
            )
            return pipeline.decide(
                s,
                claim=claim,
                label=label,
                note=note,
                guidelines=self.guidelines,
                now=now,
                origin=origin,
                quality=self.quality,
            )

        return self.run(work)

    def undo(
        self, decision_id: int, reviewer: str, *, grace_seconds: float = DEFAULT_UNDO_GRACE_SECONDS
    ) -> Claim:
        """Undo `reviewer`'s own recent decision before its action is sent; the item is
        claimed again by them."""

        def work(s: Session) -> Claim:
            now = self.clock()
            item_id = s.scalar(select(col(Decision.item_id)).where(col(Decision.id) == decision_id))
            if item_id is None:
                raise NotFound(f"decision {decision_id} does not exist")
            self._authorize_item(s, reviewer, Permission.UNDO, item_id, now)
            return pipeline.undo_decision(
                s,
                decision_id=decision_id,
                reviewer=reviewer,
                grace_seconds=grace_seconds,
                lease_seconds=self.lease_seconds,
                now=now,
            )

        return self.run(work)

    # -- clusters ---------------------------------------------------------------------
    #
    # Who may decide a cluster: anyone who may decide its items one by one (`DECIDE` on
    # the cluster's queue and on every member's queue: a member in a senior queue needs a
    # senior). Deciding each copy alone would be the same power, and every member still
    # gets its own audited decision; keeping it to leads would leave floods waiting for
    # one person. Undo: the reviewer who decided, within the undo grace period. Reverse
    # (after it) and split: a senior on the cluster's policy, as for overturning on appeal.

    def _cluster_queue(self, s: Session, cluster_id: int) -> ContentCluster:
        cluster = s.get(ContentCluster, cluster_id)
        if cluster is None:
            raise NotFound(f"cluster {cluster_id} does not exist")
        return cluster

    def _authorize_cluster(
        self, s: Session, reviewer: str, cluster_id: int, permission: Permission, now: datetime
    ) -> ContentCluster:
        cluster = self._cluster_queue(s, cluster_id)
        queues = {cluster.queue} | set(
            s.scalars(select(col(Item.queue)).where(col(Item.cluster_id) == cluster_id).distinct())
        )
        for queue in sorted(queues):
            authorize(
                s,
                reviewer=reviewer,
                permission=permission,
                queue=queue,
                now=now,
                detail={"cluster_id": cluster_id},
            )
        return cluster

    def preview_cluster(
        self, cluster_id: int, label: str, reviewer: str, *, exclude: Sequence[int] = ()
    ) -> clusters.ClusterPreview:
        """What `decide_cluster` would do now (`ClusterPreview.summary`: "apply 'remove'
        to 37 items; 2 excluded"), for someone who may decide the cluster."""

        def work(s: Session) -> clusters.ClusterPreview:
            now = self.clock()
            self._authorize_cluster(s, reviewer, cluster_id, Permission.DECIDE, now)
            return clusters.preview_cluster_decision(
                s,
                cluster_id=cluster_id,
                label=label,
                guidelines=self.guidelines,
                exclude=exclude,
                reviewer=reviewer,
            )

        return self.read(work)

    def decide_cluster(
        self,
        cluster_id: int,
        reviewer: str,
        label: str,
        *,
        exclude: Sequence[int] = (),
        note: str = "",
        origin: str = "cluster",
    ) -> ClusterDecisionPublic:
        """Decide every open member of a cluster with `label` but `exclude`, in one
        transaction (see `modqueue.queue.decide_cluster`)."""

        def work(s: Session) -> ClusterDecisionPublic:
            now = self.clock()
            self._authorize_cluster(s, reviewer, cluster_id, Permission.DECIDE, now)
            return clusters.decide_cluster(
                s,
                cluster_id=cluster_id,
                reviewer=reviewer,
                label=label,
                guidelines=self.guidelines,
                now=now,
                exclude=exclude,
                note=note,
                origin=origin,
                quality=self.quality,
            )

        return self.run(work)

    def _cluster_of_decision(self, s: Session, cluster_decision_id: int) -> int:
        found = s.scalar(
            select(col(ClusterDecision.cluster_id)).where(
                col(ClusterDecision.id) == cluster_decision_id
            )
        )
        if found is None:
            raise NotFound(f"cluster decision {cluster_decision_id} does not exist")
        return int(found)

    def undo_cluster(
        self,
        cluster_decision_id: int,
        reviewer: str,
        *,
        grace_seconds: float = DEFAULT_UNDO_GRACE_SECONDS,
    ) -> list[int]:
        """Undo `reviewer`'s own cluster decision within the undo grace period, before
        any action was sent; returns the members put back to pending."""

        def work(s: Session) -> list[int]:
            now = self.clock()
            cluster_id = self._cluster_of_decision(s, cluster_decision_id)
            self._authorize_cluster(s, reviewer, cluster_id, Permission.UNDO, now)
            return clusters.undo_cluster_decision(
                s,
                cluster_decision_id=cluster_decision_id,
                actor=reviewer,
                grace_seconds=grace_seconds,
                now=now,
            )

        return self.run(work)

    def _authorize_senior(self, s: Session, reviewer: str, cluster_id: int, now: datetime) -> None:
        cluster = self._cluster_queue(s, cluster_id)
        authorize(
            s,
            reviewer=reviewer,
            permission=Permission.DECIDE,
            queue=senior_queue(cluster.policy or policy_of_queue(cluster.queue)),
            now=now,
            detail={"cluster_id": cluster_id},
        )

    def reverse_cluster(
        self, cluster_decision_id: int, reviewer: str, note: str
    ) -> tuple[list[int], list[int]]:
        """Reverse a cluster decision (a senior): `(members put back, reversal outbox
        ids)`, see `modqueue.queue.reverse_cluster_decision`."""

        def work(s: Session) -> tuple[list[int], list[int]]:
            now = self.clock()
            cluster_id = self._cluster_of_decision(s, cluster_decision_id)
            self._authorize_senior(s, reviewer, cluster_id, now)
            return clusters.reverse_cluster_decision(
                s, cluster_decision_id=cluster_decision_id, actor=reviewer, note=note, now=now
            )

        return self.run(work)

    def split_from_cluster(self, item_id: int, reviewer: str) -> int:
        """Take an item out of its cluster to be decided alone (anyone who may decide
        it); returns the cluster it left."""

        def work(s: Session) -> int:
            now = self.clock()
            self._authorize_item(s, reviewer, Permission.DECIDE, item_id, now)
            return clusters.split_from_cluster(s, item_id=item_id, actor=reviewer, now=now)

        return self.run(work)

    def list_clusters(
        self,
        reviewer: str,
        *,
        status: str | None = None,
        policy: str | None = None,
        min_members: int = 2,
        limit: int = 50,
    ) -> list[cluster_reads.ClusterSummary]:
        """Clusters, highest priority first (anyone who may see queue statistics)."""

        def work(s: Session) -> list[cluster_reads.ClusterSummary]:
            authorize(s, reviewer=reviewer, permission=Permission.VIEW_STATS, now=self.clock())
            return cluster_reads.list_clusters(
                s, status=status, policy=policy, min_members=min_members, limit=limit
            )

        return self.read(work)

    def show_cluster(self, cluster_id: int, reviewer: str) -> cluster_reads.ClusterView:
        """One cluster with its members, authors, reach, priority and decisions."""

        def work(s: Session) -> cluster_reads.ClusterView:
            authorize(s, reviewer=reviewer, permission=Permission.VIEW_STATS, now=self.clock())
            return cluster_reads.show_cluster(s, cluster_id=cluster_id)

        return self.read(work)

    # -- reading ----------------------------------------------------------------------

    def get_item(self, item_id: int) -> ItemPublic:
        """One item, without reporter data."""

        def work(s: Session) -> ItemPublic:
            row = s.scalars(select(Item).where(col(Item.id) == item_id)).one_or_none()
            if row is None:
                raise NotFound(f"item {item_id} does not exist")
            return ItemPublic.model_validate(row, from_attributes=True)

        return self.read(work)

    def stats(self) -> dict[str, Any]:
        """Queue health: pending, claimed, decided, escalated, past_deadline, by_queue,
        actions, and `access` (open or enforced mode, see `access_summary`)."""

        def work(s: Session) -> dict[str, Any]:
            return {**queue_stats(s, now=self.clock()), "access": access_summary(s)}

        return self.read(work)

    def reporter_of(self, item_id: int, reviewer: str) -> dict[str, Any] | None:
        """The reporter's personal data for an item (leads and above); every look is
        audited as `reporter_viewed`."""

        def work(s: Session) -> dict[str, Any] | None:
            now = self.clock()
            authorize(
                s,
                reviewer=reviewer,
                permission=Permission.VIEW_REPORTER,
                item_id=item_id,
                now=now,
            )
            row = s.scalars(select(Item).where(col(Item.id) == item_id)).one_or_none()
            if row is None:
                raise NotFound(f"item {item_id} does not exist")
            record_event(s, actor=reviewer, event="reporter_viewed", at=now, item_id=item_id)
            return row.reporter

        return self.run(work)

    def dashboard(self, reviewer: str, *, window_hours: int = 12) -> DashboardMetrics:
        """The lead dashboard's numbers (`dashboard_metrics`), for leads and above.

        Raises `PermissionDenied` (audited as `access_denied`) for anyone else once
        reviewers are registered; open mode allows everyone.
        """

        def work(s: Session) -> DashboardMetrics:
            now = self.clock()
            authorize(s, reviewer=reviewer, permission=Permission.VIEW_DASHBOARD, now=now)
            return dashboard_metrics(s, now=now, window_hours=window_hours)

        return self.read(work)

    # -- identity ---------------------------------------------------------------------

    def check_access(
        self, reviewer: str, permission: Permission, *, queue: str | None = None
    ) -> None:
        """Raise `PermissionDenied` (audited as `access_denied`) unless `reviewer` may do
        `permission` (in `queue`, for queue work): lets an entry point refuse up front,
        before it opens a screen, with the same rule the operation itself applies."""
        self.read(
            lambda s: authorize(
                s, reviewer=reviewer, permission=permission, queue=queue, now=self.clock()
            )
        )

    def authenticate(
        self, reviewer: str | None, token: str | None = None, *, os_user: str | None = None
    ) -> str:
        """Verify who is at the keyboard; returns the reviewer name to act as.

        With `os_user` (config `[auth] mode = "os"`) the operating-system user is trusted
        and `reviewer`, when given, must match it; otherwise `token` must match
        `reviewer`'s stored hash. Open mode accepts any name. Failures raise
        `PermissionDenied` and are audited.
        """
        if os_user is not None:
            return self.run(
                lambda s: authenticate_os_user(s, name=reviewer, os_user=os_user, now=self.clock())
            )
        if not reviewer:
            raise PermissionDenied("no reviewer given: pass --reviewer")
        return self.run(lambda s: authenticate(s, name=reviewer, token=token, now=self.clock()))
