"""The review screen: one item, its guideline, and the keys that decide it.

Every database call runs in a thread worker that posts a message back; the screen keeps
one claim ahead of the one shown, so after a decision the next item is on screen at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from modqueue._exceptions import ModqueueError, PermissionDenied
from modqueue._sections.tui import TuiConfig
from modqueue.guidelines import DEFAULT_MEDIA_VIEW, Guideline
from modqueue.queue import (
    Claim,
    ClusterDecisionPublic,
    ClusterView,
    DecisionPublic,
    ExposureStatus,
    RevealedMedia,
    ReviewQueue,
    policy_of_queue,
)
from modqueue.tui._keys import binding, display_key
from modqueue.tui.components import (
    ClusterCard,
    ExposureMeter,
    GuidelinePanel,
    ItemCard,
    MediaFetch,
    MediaPanel,
    MediaRequest,
    media_entries,
)
from modqueue.tui.screens.checkin import CheckInScreen
from modqueue.tui.screens.cluster_decision import ClusterChoice, ClusterDecisionScreen
from modqueue.tui.screens.note import NoteScreen

__all__ = ["ReviewScreen"]


def _error(exc: Exception) -> str:
    return str(exc) if isinstance(exc, ModqueueError) else f"{type(exc).__name__}: {exc}"


class ReviewScreen(Screen[None]):
    """Claims, shows and decides items of `queues` (None: every non-senior queue)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        *(binding(f"decide-{n}", f"decide({n})", show=False) for n in range(1, 10)),
        binding("escalate", "escalate"),
        binding("skip", "skip"),
        binding("note", "note"),
        binding("undo", "undo"),
        binding("decide-cluster", "decide_cluster", show=False),  # the card names it
        binding("reveal", "reveal"),
        binding("toggle-guideline", "toggle_guideline"),
        binding("queues", "pick_queue"),
        binding("help", "app.help"),
        binding("quit", "quit_review"),
    ]

    # -- messages posted by the workers --------------------------------------------------

    @dataclass
    class Claimed(Message):
        """New claims; `exhausted` when the queue had fewer than asked for."""

        claims: list[Claim]
        exhausted: bool
        exposure: ExposureStatus | None = None

    @dataclass
    class ExposureChanged(Message):
        """The reviewer's exposure this shift, read after a reveal."""

        status: ExposureStatus

    @dataclass
    class Decided(Message):
        """A decision was stored."""

        decision: DecisionPublic

    @dataclass
    class Escalated(Message):
        """An item went to `target` (a senior queue)."""

        item_id: int
        target: str

    @dataclass
    class Undone(Message):
        """A decision was undone; its item is claimed again."""

        claim: Claim

    @dataclass
    class Renewed(Message):
        """Leases extended."""

        claims: list[Claim]

    @dataclass
    class Released(Message):
        """Claims given back (skip, quit, switching queues)."""

        item_ids: list[int]
        then: str

    @dataclass
    class Failed(Message):
        """A database call failed: `error` is shown as a notification; `decision` when
        the call was a decision or escalation (no longer in flight); `refused` says why
        the reviewer may not claim from these queues (no more claims until they switch)."""

        error: str
        decision: bool = False
        retry: Claim | None = None
        refused: str | None = None

    @dataclass
    class ClusterLoaded(Message):
        """The cluster of item `item_id`, read for its card."""

        item_id: int
        view: ClusterView | None

    @dataclass
    class ClusterDecided(Message):
        """A cluster decision was stored; `released` are the claims given back for it."""

        decision: ClusterDecisionPublic
        released: list[int]

    @dataclass
    class Settled(Message):
        """A worker finished (whatever happened)."""

    # -- state -------------------------------------------------------------------------

    def __init__(
        self,
        *,
        queue: ReviewQueue,
        reviewer: str,
        queues: list[str] | None,
        config: TuiConfig,
        exit_on_quit: bool = True,
        media_fetch: MediaFetch,
    ) -> None:
        super().__init__()
        self.media_fetch = media_fetch
        self.queue = queue
        self.reviewer = reviewer
        self.queues = queues
        self.config = config
        self.exit_on_quit = exit_on_quit
        self.current: Claim | None = None
        self.upcoming: list[Claim] = []
        self.note = ""
        self.revealed = False
        self.last_decision: DecisionPublic | None = None
        self.deciding = 0
        self.inflight = 0
        self.claiming = False
        self.exhausted = False
        self.refused: str | None = None
        self.quitting = False
        self.finishing = False
        self.items_seen = 0
        self.started_at: datetime = queue.clock()
        self.status = Text("")
        self.exposure: ExposureStatus | None = None
        self.checkin_open = False
        self.cluster: ClusterView | None = None
        self.cluster_loading: int | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="review-top"):
            yield Static(id="review-status")
            yield ExposureMeter(
                break_after_items=self.config.break_after_items,
                break_after_minutes=self.config.break_after_minutes,
                id="exposure",
            )
        with Horizontal(id="review-body"):
            yield ItemCard(id="item-card")
            yield GuidelinePanel(id="guideline-panel")
        yield ClusterCard(id="cluster-card")
        yield Footer()

    def on_mount(self) -> None:
        scope = ", ".join(self.queues) if self.queues else "every queue"
        self.sub_title = f"{self.reviewer} · {scope}"
        self.query_one(ItemCard).show_empty("claiming the next item…")
        self._top_up()
        self.set_interval(30, self._tick)

    # -- helpers -----------------------------------------------------------------------

    def _keymap(self) -> dict[str, str]:
        return dict(self.config.keys)

    def _guideline(self, claim: Claim) -> Guideline | None:
        policy = claim.item.policy or claim.queue.split(":", 1)[0]
        if policy in self.queue.guidelines:
            return self.queue.guidelines.get(policy)
        return None

    def _start(self, run: Callable[[], object], *, after_paint: bool = False) -> None:
        """Count a worker in flight and start it; `after_paint` defers the start until the
        screen shows the next item, so the database thread never delays that paint."""
        self.inflight += 1
        if after_paint:
            self.call_after_refresh(run)
        else:
            run()

    def _show(self) -> None:
        card = self.query_one(ItemCard)
        claim = self.current
        if claim is None:
            if self.refused is not None:
                card.show_empty(
                    f"Access denied: {self.refused}. "
                    f"Press {display_key('queues', self._keymap())} to pick another queue."
                )
            elif self.claiming or self.inflight:
                card.show_empty("claiming the next item…")
            elif self.exposure is not None and self.exposure.held_back:
                card.show_empty(
                    f"{self.exposure.explain()} Press "
                    f"{display_key('queues', self._keymap())} to pick another queue."
                )
            else:
                card.show_empty("Nothing to review in this queue right now.")
            self._show_cluster(None)
            self._render_status()
            return
        guideline = self._guideline(claim)
        card.show_claim(
            claim,
            now=self.queue.clock(),
            graphic=bool(guideline and guideline.graphic),
            revealed=self.revealed,
            reveal_key=display_key("reveal", self._keymap()),
            max_chars=self.config.max_text_chars,
        )
        self._show_media(claim, guideline)
        self._show_cluster(claim)
        if guideline is not None:
            keys = {n: display_key(f"decide-{n}", self._keymap()) for n in range(1, 10)}
            self.query_one(GuidelinePanel).show_guideline(guideline, keys)
        self._render_status()

    def _show_media(self, claim: Claim, guideline: Guideline | None) -> None:
        panel = self.query_one(MediaPanel)
        panel.protocol = self.config.image_protocol
        panel.show_media(
            MediaRequest(
                item_id=claim.item_id,
                policy=guideline.id if guideline else policy_of_queue(claim.queue),
                policy_view=guideline.media_view if guideline else DEFAULT_MEDIA_VIEW,
                preference=self.config.media_view,
                media=tuple(media_entries(claim.item.media)),
                revealed=self.revealed,
                reveal_key=display_key("reveal", self._keymap()),
                fetch=self.media_fetch,
            )
        )

    def _show_cluster(self, claim: Claim | None) -> None:
        """Show the cluster card of `claim`'s item (read by a worker), or hide it."""
        cluster_id = claim.item.cluster_id if claim is not None else None
        if cluster_id is None or claim is None:
            self.cluster = None
            self.query_one(ClusterCard).show_cluster(None)
        elif self.cluster is None or self.cluster.summary.id != cluster_id:
            self.query_one(ClusterCard).show_cluster(None)
            if self.cluster_loading != claim.item_id:
                self.cluster_loading = claim.item_id
                self._start(lambda: self._load_cluster(claim.item_id, cluster_id))

    def _render_status(self) -> None:
        text = Text()
        ahead = len(self.upcoming)
        text.append(f"{ahead} claimed ahead", style="dim")
        if self.note:
            text.append(" · note: ", style="bold")
            text.append(self.note[:60].replace("\n", " "))
        if self.last_decision is not None:
            text.append(
                f" · last: item {self.last_decision.item_id} {self.last_decision.label} "
                f"({display_key('undo', self._keymap())} to undo)"
            )
        self.query_one("#review-status", Static).update(text)

    def _advance(self) -> None:
        """Show the next claimed item (already in memory) and count the exposure."""
        self.current = self.upcoming.pop(0) if self.upcoming else None
        self.note = ""
        self.revealed = False
        if self.current is not None:
            self.items_seen += 1
        self._count_exposure()
        self._show()

    def _count_exposure(self) -> None:
        minutes = (self.queue.clock() - self.started_at).total_seconds() / 60.0
        self.query_one(ExposureMeter).count(items=self.items_seen, minutes=max(minutes, 0.0))

    def _top_up(self) -> None:
        """Claim up to `claim_ahead` items ahead of the one on screen (not when the queue was found
        empty: the timer looks again)."""
        held = len(self.upcoming) + (self.current is not None)
        wanted = 1 + self.config.claim_ahead - held
        blocked = self.claiming or self.quitting or self.exhausted or self.refused is not None
        if wanted > 0 and not blocked:
            self.claiming = True
            self._start(lambda: self._claim(wanted))

    # -- workers (never touch widgets) -------------------------------------------------

    @work(thread=True, group="db")
    def _claim(self, count: int) -> None:
        try:
            claims: list[Claim] = []
            for _ in range(count):
                claim = self.queue.claim_next(self.reviewer, self.queues)
                if claim is None:
                    break
                claims.append(claim)
            status = self.queue.exposure_status(self.reviewer)
            self.post_message(self.Claimed(claims, exhausted=len(claims) < count, exposure=status))
        except PermissionDenied as exc:
            self.post_message(self.Claimed([], exhausted=True))
            self.post_message(self.Failed(f"could not claim: {exc}", refused=str(exc)))
        except Exception as exc:
            self.post_message(self.Claimed([], exhausted=True))
            self.post_message(self.Failed(f"could not claim: {_error(exc)}"))
        finally:
            self.post_message(self.Settled())

    @work(thread=True, group="db")
    def _decide(self, claim: Claim, label: str, note: str) -> None:
        try:
            decision = self.queue.decide(claim, label, note, origin="tui")
            self.post_message(self.Decided(decision))
        except Exception as exc:
            # A database hiccup leaves the claim valid: bring the item back to decide again.
            retry = None if isinstance(exc, ModqueueError) else claim
            self.post_message(
                self.Failed(
                    f"item {claim.item_id} not decided: {_error(exc)}", decision=True, retry=retry
                )
            )
        finally:
            self.post_message(self.Settled())

    @work(thread=True, group="db")
    def _escalate(self, claim: Claim, note: str) -> None:
        try:
            target = self.queue.escalate(claim, note)
            self.post_message(self.Escalated(claim.item_id, target))
        except Exception as exc:
            self.post_message(
                self.Failed(f"item {claim.item_id} not escalated: {_error(exc)}", decision=True)
            )
        finally:
            self.post_message(self.Settled())

    @work(thread=True, group="db")
    def _undo(self, decision: DecisionPublic) -> None:
        try:
            claim = self.queue.undo(
                decision.id, self.reviewer, grace_seconds=self.config.undo_grace
            )
            self.post_message(self.Undone(claim))
        except Exception as exc:
            self.post_message(self.Failed(f"cannot undo: {_error(exc)}"))
        finally:
            self.post_message(self.Settled())

    @work(thread=True, group="db")
    def _release(self, claims: list[Claim], note: str, then: str) -> None:
        # Claim the replacement first, so the skipped item is not handed straight back.
        try:
            if then == "skip":
                fresh = self.queue.claim_next(self.reviewer, self.queues)
                self.post_message(self.Claimed([fresh] if fresh else [], exhausted=fresh is None))
            for claim in claims:
                self.queue.release(claim, note)
        except Exception as exc:
            if then == "skip":
                self.post_message(self.Claimed([], exhausted=True))
            self.post_message(self.Failed(f"could not give items back: {_error(exc)}"))
        finally:
            self.post_message(self.Released([c.item_id for c in claims], then=then))
            self.post_message(self.Settled())

    @work(thread=True, group="db")
    def _renew(self, claims: list[Claim]) -> None:
        try:
            self.post_message(self.Renewed([self.queue.renew(c) for c in claims]))
        except Exception as exc:
            self.post_message(self.Failed(f"could not renew a lease: {_error(exc)}"))
        finally:
            self.post_message(self.Settled())

    @work(thread=True, group="db")
    def _record_reveal(
        self, claim: Claim, text: bool, media: bool, files: list[RevealedMedia]
    ) -> None:
        try:
            self.queue.record_reveal(claim, text=text, media=media, files=files)
            self.post_message(self.ExposureChanged(self.queue.exposure_status(self.reviewer)))
        except Exception as exc:
            self.post_message(self.Failed(f"could not record the reveal: {_error(exc)}"))
        finally:
            self.post_message(self.Settled())

    @work(thread=True, group="db")
    def _load_cluster(self, item_id: int, cluster_id: int) -> None:
        try:
            view = self.queue.show_cluster(cluster_id, self.reviewer)
            self.post_message(self.ClusterLoaded(item_id, view))
        except Exception as exc:
            self.post_message(self.ClusterLoaded(item_id, None))
            self.post_message(self.Failed(f"could not read cluster {cluster_id}: {_error(exc)}"))
        finally:
            self.post_message(self.Settled())

    @work(thread=True, group="db")
    def _decide_cluster(self, cluster_id: int, choice: ClusterChoice, held: list[Claim]) -> None:
        # The reviewer's own claims on members are given back first: a cluster decision
        # leaves claimed members alone.
        try:
            for claim in held:
                self.queue.release(claim, "decided with its cluster")
            made = self.queue.decide_cluster(
                cluster_id, self.reviewer, choice.label, exclude=choice.exclude
            )
            self.post_message(self.ClusterDecided(made, [c.item_id for c in held]))
        except Exception as exc:
            self.post_message(
                self.Failed(f"cluster {cluster_id} not decided: {_error(exc)}", decision=True)
            )
        finally:
            self.post_message(self.Settled())

    # -- results -----------------------------------------------------------------------

    @on(ClusterLoaded)
    def _cluster_loaded(self, message: ClusterLoaded) -> None:
        if self.cluster_loading == message.item_id:
            self.cluster_loading = None
        if self.current is None or self.current.item_id != message.item_id:
            return  # the reviewer moved on
        self.cluster = message.view
        key = display_key("decide-cluster", self._keymap())
        self.query_one(ClusterCard).show_cluster(message.view, key=key)

    @on(ClusterDecided)
    def _cluster_decided(self, message: ClusterDecided) -> None:
        self.deciding -= 1
        self.exhausted = False  # excluded members given back can be claimed again
        made = message.decision
        self.notify(
            f"cluster {made.cluster_id}: {made.label} applied to {made.member_count} items"
            + (f"; {len(made.excluded)} excluded" if made.excluded else ""),
            markup=False,
        )

    @on(ExposureChanged)
    def _exposure_changed(self, message: ExposureChanged) -> None:
        self._show_exposure(message.status)
        if message.status.checkin_due and not self.checkin_open:
            self.checkin_open = True
            self._start(self._record_checkin)

            def closed(_: None) -> None:
                self.checkin_open = False

            self.app.push_screen(CheckInScreen(message.status.graphic_reveals), closed)

    def _show_exposure(self, status: ExposureStatus | None) -> None:
        if status is not None:
            self.exposure = status
            self.query_one(ExposureMeter).show_budget(status)

    @work(thread=True, group="db")
    def _record_checkin(self) -> None:
        try:
            self.queue.record_checkin(self.reviewer)
        except Exception as exc:
            self.post_message(self.Failed(f"could not record the check-in: {_error(exc)}"))
        finally:
            self.post_message(self.Settled())

    @on(Claimed)
    def _claimed(self, message: Claimed) -> None:
        self._show_exposure(message.exposure)
        self.claiming = False
        self.exhausted = message.exhausted
        self.upcoming.extend(message.claims)
        if self.current is None and self.upcoming:
            self._advance()
        else:
            self._show()

    @on(Decided)
    def _decided(self, message: Decided) -> None:
        self.deciding -= 1
        self.last_decision = message.decision
        self._render_status()

    @on(Escalated)
    def _escalated(self, message: Escalated) -> None:
        self.deciding -= 1
        self.notify(f"item {message.item_id} escalated to {message.target}", markup=False)

    @on(Undone)
    def _undone(self, message: Undone) -> None:
        if self.current is not None:
            self.upcoming.insert(0, self.current)
        self.current = message.claim
        self.revealed = False
        self.note = ""
        self.last_decision = None
        self._show()

    @on(Renewed)
    def _renewed(self, message: Renewed) -> None:
        fresh = {c.item_id: c for c in message.claims}
        if self.current is not None:
            self.current = fresh.get(self.current.item_id, self.current)
        self.upcoming = [fresh.get(c.item_id, c) for c in self.upcoming]

    @on(Released)
    def _released(self, message: Released) -> None:
        if message.then == "switch" or (message.then == "skip" and self.current is None):
            self.exhausted = False  # what was given back can be claimed again
        if message.then == "quit":
            self._finish()

    @on(Failed)
    def _failed(self, message: Failed) -> None:
        if message.decision:
            self.deciding -= 1
        if message.refused is not None:
            self.refused = message.refused
            self._show()
        if message.retry is not None and not self.quitting:
            if self.current is not None:
                self.upcoming.insert(0, self.current)
            self.current = message.retry
            self.note = ""
            self.revealed = False
            self._show()
        self.notify(message.error, severity="error", markup=False, timeout=8)

    @on(Settled)
    def _settled(self, message: Settled) -> None:
        self.inflight -= 1
        if self.quitting and self.inflight == 0:
            if self.finishing:
                return
            self.finishing = True
            held = ([self.current] if self.current else []) + self.upcoming
            self.current = None
            self.upcoming = []
            if held:
                self._start(lambda: self._release(held, "", "quit"))
            else:
                self._finish()
        elif not self.quitting:
            self._top_up()
            if self.current is None:
                self._show()

    @on(ExposureMeter.BreakDue)
    def _break_due(self, message: ExposureMeter.BreakDue) -> None:
        self.notify(
            f"You have reviewed {message.items} items over {message.minutes} minutes. "
            "Take a break: step away from the screen for a few minutes.",
            title="Time for a break",
            severity="warning",
            markup=False,
            timeout=20,
        )

    def _tick(self) -> None:
        self._count_exposure()
        if self.quitting:
            return
        now = self.queue.clock()
        half = self.queue.lease_seconds / 2
        held = ([self.current] if self.current else []) + self.upcoming
        due = [c for c in held if (c.lease_expires_at - now).total_seconds() < half]
        if due:
            self._start(lambda: self._renew(due))
        elif self.exhausted and not self.claiming and self.refused is None:
            self.exhausted = False
            self._top_up()

    def _finish(self) -> None:
        if self.exit_on_quit:
            self.app.exit()
        else:
            self.dismiss(None)

    # -- actions -----------------------------------------------------------------------

    def action_decide(self, hotkey: int) -> None:
        """Decide the item on screen with its guideline's label on `hotkey`."""
        claim = self.current
        if claim is None or self.quitting:
            self.notify("No item to decide.", severity="warning")
            return
        guideline = self._guideline(claim)
        label = (
            next((lb for lb in guideline.labels if lb.hotkey == hotkey), None)
            if guideline
            else None
        )
        if label is None:
            self.notify(f"No label on key {hotkey} for this item.", severity="warning")
            return
        self.last_decision = None
        self.deciding += 1
        note = self.note
        self._advance()
        self._start(lambda: self._decide(claim, label.id, note), after_paint=True)

    def action_escalate(self) -> None:
        """Ask why, then move the item to its policy's senior queue."""
        claim = self.current
        if claim is None or self.quitting:
            self.notify("No item to escalate.", severity="warning")
            return

        def escalate(note: str | None) -> None:
            if note is None:
                return
            if not note.strip():
                self.notify("An escalation needs a note saying why.", severity="warning")
                return
            if self.current is not claim:
                return
            self.deciding += 1
            self.last_decision = None
            self._advance()
            self._start(lambda: self._escalate(claim, note), after_paint=True)

        self.app.push_screen(NoteScreen(f"Why escalate item {claim.item_id}?"), escalate)

    def action_skip(self) -> None:
        """Give the item back to its queue and show the next one."""
        claim = self.current
        if claim is None or self.quitting:
            self.notify("No item to skip.", severity="warning")
            return
        note = self.note
        self._advance()
        self.claiming = True  # the skip worker claims the replacement before giving back
        self._start(lambda: self._release([claim], note, "skip"), after_paint=True)

    def action_note(self) -> None:
        """Write a private note that goes with this item's decision or skip."""
        claim = self.current
        if claim is None:
            self.notify("No item to annotate.", severity="warning")
            return

        def noted(note: str | None) -> None:
            if note is not None and self.current is claim:
                self.note = note
                self._render_status()

        self.app.push_screen(NoteScreen(f"Note on item {claim.item_id}", self.note), noted)

    def action_undo(self) -> None:
        """Undo the last decision (within the grace period, before its action is sent)."""
        if self.deciding:
            self.notify("The last decision is still being saved; try again.", severity="warning")
            return
        decision = self.last_decision
        if decision is None:
            self.notify("Nothing to undo.", severity="warning")
            return
        self.last_decision = None
        self._start(lambda: self._undo(decision))

    def action_decide_cluster(self) -> None:
        """Decide every copy in the cluster of the item on screen, after a preview."""
        claim = self.current
        view = self.cluster
        if claim is None or self.quitting:
            self.notify("No item to decide.", severity="warning")
            return
        if view is None or view.summary.members < 2 or claim.item.cluster_id != view.summary.id:
            self.notify("This item is in no cluster of copies.", severity="warning")
            return
        guideline = self._guideline(claim)
        if guideline is None:
            self.notify("No guideline for this item.", severity="warning")
            return
        cluster_id = view.summary.id
        members = {m.item_id for m in view.members}
        mine = frozenset(c.item_id for c in [claim, *self.upcoming] if c.item_id in members)

        def chosen(choice: ClusterChoice | None) -> None:
            if choice is None or self.current is not claim:
                return
            held = [c for c in [claim, *self.upcoming] if c.item_id in mine]
            self.upcoming = [c for c in self.upcoming if c.item_id not in mine]
            self.last_decision = None
            self.deciding += 1
            self._advance()
            self._start(lambda: self._decide_cluster(cluster_id, choice, held), after_paint=True)

        self.app.push_screen(
            ClusterDecisionScreen(
                queue=self.queue,
                reviewer=self.reviewer,
                view=view,
                guideline=guideline,
                held=mine,
            ),
            chosen,
        )

    def action_reveal(self) -> None:
        """Show (or hide again) graphic text, media links and media of the item on screen."""
        claim = self.current
        if claim is None:
            return
        panel = self.query_one(MediaPanel)
        shown = panel.revealable()
        request = panel.request
        protection = request.view.value if request is not None else DEFAULT_MEDIA_VIEW.value
        policy = request.policy if request is not None else policy_of_queue(claim.queue)
        self.revealed = not self.revealed
        self._show()
        if self.revealed:
            guideline = self._guideline(claim)
            text = guideline is not None and guideline.graphic
            media = bool(claim.item.media)
            files = [
                RevealedMedia(entry.audit_kind, entry.index, policy, protection)
                for entry in shown
                if entry.audit_kind is not None
            ]
            if text or media:
                self._start(lambda: self._record_reveal(claim, text, media, files))

    def action_toggle_guideline(self) -> None:
        """Fold or unfold the guideline text."""
        self.query_one(GuidelinePanel).toggle_body()

    def action_pick_queue(self) -> None:
        """Switch queue: give back what is held, then claim from the picked queue."""
        from modqueue.tui.screens.queues import QueuesScreen

        def picked(choice: str | None) -> None:
            if choice is None:
                return
            held = ([self.current] if self.current else []) + self.upcoming
            self.current = None
            self.upcoming = []
            self.queues = [choice] if choice else None
            self.exhausted = False
            self.refused = None
            scope = ", ".join(self.queues) if self.queues else "every queue"
            self.sub_title = f"{self.reviewer} · {scope}"
            self._show()
            if held:
                self._start(lambda: self._release(held, "", "switch"))
            else:
                self._top_up()

        self.app.push_screen(QueuesScreen(queue=self.queue, include_senior=False), picked)

    def action_quit_review(self) -> None:
        """Give back every claim held, then leave."""
        if self.quitting:
            return
        self.quitting = True
        self.query_one(ItemCard).show_empty("giving back claimed items…")
        if self.inflight == 0:
            self.inflight += 1
            self.post_message(self.Settled())
