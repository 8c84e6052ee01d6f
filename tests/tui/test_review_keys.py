"""Pilot tests: every key of the review screen, with the database checked after each."""

from __future__ import annotations

from typing import Any

import pytest
from textual.widgets import Collapsible

from modqueue.queue import ReviewQueue
from modqueue.tui import TuiConfig
from modqueue.tui.app import ReviewApp
from modqueue.tui.components import ExposureMeter, ItemCard
from modqueue.tui.screens import HelpScreen, NoteScreen, QueuesScreen, ReviewScreen
from tests.conftest import Clock
from tests.tui.conftest import (
    SIZE,
    action_statuses,
    decisions,
    events,
    make_app,
    settle,
    statuses,
)


def shown(app: ReviewApp) -> int | None:
    return app.screen.query_one(ItemCard).shown_item_id


def card_text(app: ReviewApp) -> str:
    card = app.screen.query_one(ItemCard)
    return "\n".join(str(w.render()) for w in card.children)


def record_notifications(app: ReviewApp, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []
    original = app.notify

    def notify(message: str, **kwargs: Any) -> None:
        seen.append((kwargs.get("severity", "information"), message))
        original(message, **kwargs)

    monkeypatch.setattr(app, "notify", notify)
    return seen


async def test_label_keys_decide_and_the_next_item_is_already_claimed(
    seeded_queue: ReviewQueue, tui_config: TuiConfig
) -> None:
    app = make_app(seeded_queue, tui_config)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert shown(app) == 1
        assert statuses(seeded_queue)[2] == ("claimed", "alice")  # claimed ahead
        await pilot.press("1")
        assert shown(app) == 2  # on screen before the decision is even stored
        await settle(app, pilot)
        assert decisions(seeded_queue) == [(1, "no-violation", "active", "")]
        assert statuses(seeded_queue)[1] == ("decided", None)
        assert statuses(seeded_queue)[3] == ("claimed", "alice")
        await pilot.press("3")  # violent-threats: remove-glorification (remove)
        await settle(app, pilot)
        assert decisions(seeded_queue)[-1] == (2, "remove-glorification", "active", "")
        assert action_statuses(seeded_queue) == ["pending"]
        await pilot.press("9")  # doxxing has no label 9: nothing happens
        await settle(app, pilot)
        assert len(decisions(seeded_queue)) == 2
        assert shown(app) == 3


async def test_undo_within_grace_cancels_the_action_and_brings_the_item_back(
    seeded_queue: ReviewQueue, tui_config: TuiConfig, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(seeded_queue, tui_config)
    async with app.run_test(size=SIZE) as pilot:
        notes = record_notifications(app, monkeypatch)
        await settle(app, pilot)
        await pilot.press("3")  # people-smuggling: restrict-testimonial (restrict)
        await settle(app, pilot)
        assert action_statuses(seeded_queue) == ["pending"]
        await pilot.press("u")
        await settle(app, pilot)
        assert decisions(seeded_queue) == [(1, "restrict-testimonial", "undone", "")]
        assert action_statuses(seeded_queue) == ["cancelled"]
        assert statuses(seeded_queue)[1] == ("claimed", "alice")
        assert shown(app) == 1
        # Past the grace period: refused with a notification, nothing changes.
        await pilot.press("1")
        await settle(app, pilot)
        clock.advance(seconds=tui_config.undo_grace + 1)
        await pilot.press("u")
        await settle(app, pilot)
        assert decisions(seeded_queue)[-1] == (1, "no-violation", "active", "")
        assert statuses(seeded_queue)[1] == ("decided", None)
        assert any(sev == "error" and "undo window" in msg for sev, msg in notes)
        await pilot.press("u")  # nothing left to undo
        await settle(app, pilot)
        assert ("warning", "Nothing to undo.") in notes


async def test_skip_gives_the_item_back_with_its_note(
    seeded_queue: ReviewQueue, tui_config: TuiConfig
) -> None:
    app = make_app(seeded_queue, tui_config)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("n")
        assert isinstance(app.screen, NoteScreen)
        await pilot.press(*"dup", "enter")
        await settle(app, pilot)
        assert statuses(seeded_queue)[1] == ("claimed", "alice")  # a note alone writes nothing
        await pilot.press("s")
        await settle(app, pilot)
        assert shown(app) == 2
        assert statuses(seeded_queue)[1] == ("pending", None)
        assert statuses(seeded_queue)[3] == ("claimed", "alice")  # replacement claimed first
        assert events(seeded_queue, "released") == [(1, {"note": "dup"})]
        assert decisions(seeded_queue) == []


async def test_note_goes_with_the_decision(
    seeded_queue: ReviewQueue, tui_config: TuiConfig
) -> None:
    app = make_app(seeded_queue, tui_config)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("n", *"ad", "enter")
        await settle(app, pilot)
        await pilot.press("n", "escape")  # cancelling keeps the note
        await settle(app, pilot)
        assert decisions(seeded_queue) == []
        await pilot.press("4")
        await settle(app, pilot)
        assert decisions(seeded_queue) == [(1, "remove-fake-documents", "active", "ad")]
        assert action_statuses(seeded_queue) == ["pending"]


async def test_escalate_asks_for_a_note_and_moves_the_item_to_the_senior_queue(
    seeded_queue: ReviewQueue, tui_config: TuiConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(seeded_queue, tui_config)
    async with app.run_test(size=SIZE) as pilot:
        notes = record_notifications(app, monkeypatch)
        await settle(app, pilot)
        await pilot.press("e", "enter")  # empty note: refused
        await settle(app, pilot)
        assert statuses(seeded_queue)[1] == ("claimed", "alice")
        assert ("warning", "An escalation needs a note saying why.") in notes
        await pilot.press("e")
        assert isinstance(app.screen, NoteScreen)
        await pilot.press(*"named target", "enter")
        await settle(app, pilot)
        assert shown(app) == 2
        assert events(seeded_queue, "escalated") == [(1, {"note": "named target"})]
        with seeded_queue.session() as s:
            from modqueue.queue import Item

            item = s.get(Item, 1)
            assert item is not None
            assert (item.queue, item.status, item.escalated) == (
                "people-smuggling:senior",
                "pending",
                True,
            )


async def test_reveal_shows_media_and_graphic_text_and_is_audited(
    seeded_queue: ReviewQueue, tui_config: TuiConfig
) -> None:
    app = make_app(seeded_queue, tui_config)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert "192.0.2.10/1.jpg" not in card_text(app)
        assert "1 media link(s) hidden" in card_text(app)
        await pilot.press("r")
        await settle(app, pilot)
        assert "192.0.2.10/1.jpg" in card_text(app)
        assert events(seeded_queue, "revealed") == [(1, {"what": "media links"})]
        await pilot.press("1")  # next: the graphic violent-threats item
        await settle(app, pilot)
        assert shown(app) == 2
        assert "You're next" not in card_text(app)
        assert "Graphic policy: the text is hidden" in card_text(app)
        await pilot.press("r")
        await settle(app, pilot)
        assert "You're next" in card_text(app)
        assert "media.example.net/2.mp4" in card_text(app)
        assert events(seeded_queue, "revealed")[-1] == (2, {"what": "graphic text, media links"})
        await pilot.press("r")  # hides again; no new audit event
        await settle(app, pilot)
        assert "You're next" not in card_text(app)
        assert len(events(seeded_queue, "revealed")) == 2


async def test_help_guideline_toggle_and_quit_release_every_claim(
    seeded_queue: ReviewQueue, tui_config: TuiConfig
) -> None:
    app = make_app(seeded_queue, tui_config)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        before = statuses(seeded_queue)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, ReviewScreen)
        await pilot.press("t")
        assert app.screen.query_one("#guideline-body", Collapsible).collapsed
        await pilot.press("t")
        assert not app.screen.query_one("#guideline-body", Collapsible).collapsed
        await settle(app, pilot)
        assert statuses(seeded_queue) == before
        await pilot.press("q")
        await settle(app, pilot)
    assert all(status == "pending" for status, _ in statuses(seeded_queue).values())
    assert {i for i, _ in events(seeded_queue, "released")} == {1, 2}
    assert app.return_code == 0


async def test_queue_picker_switches_queue(
    seeded_queue: ReviewQueue, tui_config: TuiConfig
) -> None:
    app = make_app(seeded_queue, tui_config)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("g")
        assert isinstance(app.screen, QueuesScreen)
        await settle(app, pilot)
        table = app.screen.query_one("#queue-table")
        keys = [row.key.value for row in table.ordered_rows]  # type: ignore[attr-defined]
        assert keys[0] == "" and "drug-supply" in keys
        for _ in range(keys.index("drug-supply")):
            await pilot.press("down")
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, ReviewScreen)
        assert shown(app) == 5
        state = statuses(seeded_queue)
        assert state[1] == ("pending", None) and state[2] == ("pending", None)
        assert state[5] == ("claimed", "alice") and state[6] == ("claimed", "alice")


async def test_pick_mode_starts_on_the_queue_picker(
    seeded_queue: ReviewQueue, tui_config: TuiConfig
) -> None:
    app = make_app(seeded_queue, tui_config, mode="pick")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert isinstance(app.screen, QueuesScreen)
        assert statuses(seeded_queue)[1] == ("pending", None)
        await pilot.press("enter")  # the "every queue" row
        await settle(app, pilot)
        assert shown(app) == 1
        assert statuses(seeded_queue)[1] == ("claimed", "alice")


async def test_remapped_keys_and_break_suggestion(
    seeded_queue: ReviewQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = TuiConfig(keys={"decide-1": "a", "skip": "k"}, break_after_items=2)
    app = make_app(seeded_queue, config)
    async with app.run_test(size=SIZE) as pilot:
        notes = record_notifications(app, monkeypatch)
        await settle(app, pilot)
        await pilot.press("a")
        await settle(app, pilot)
        assert decisions(seeded_queue) == [(1, "no-violation", "active", "")]
        assert any(sev == "warning" and "break" in msg for sev, msg in notes)
        assert app.screen.query_one(ExposureMeter).break_due
        await pilot.press("s")  # the old key does nothing now
        await settle(app, pilot)
        assert statuses(seeded_queue)[2] == ("claimed", "alice")
        await pilot.press("k")
        await settle(app, pilot)
        assert statuses(seeded_queue)[2] == ("pending", None)


async def test_a_lost_claim_is_a_notification_not_a_crash(
    seeded_queue: ReviewQueue, tui_config: TuiConfig, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(seeded_queue, tui_config)
    async with app.run_test(size=SIZE) as pilot:
        notes = record_notifications(app, monkeypatch)
        await settle(app, pilot)
        clock.advance(seconds=seeded_queue.lease_seconds + 1)
        seeded_queue.expire_leases()
        taken = seeded_queue.claim(1, "bob")
        await pilot.press("1")
        await settle(app, pilot)
        assert any(sev == "error" and "item 1 not decided" in msg for sev, msg in notes)
        assert decisions(seeded_queue) == []
        assert statuses(seeded_queue)[1] == ("claimed", "bob")
        assert taken.reviewer == "bob"
        assert app.is_running


async def test_a_database_error_brings_the_item_back(
    seeded_queue: ReviewQueue, tui_config: TuiConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(seeded_queue, tui_config)
    real_decide = seeded_queue.decide
    calls = []

    def flaky_decide(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        if len(calls) == 1:
            raise RuntimeError("connection reset")
        return real_decide(*args, **kwargs)

    monkeypatch.setattr(seeded_queue, "decide", flaky_decide)
    async with app.run_test(size=SIZE) as pilot:
        notes = record_notifications(app, monkeypatch)
        await settle(app, pilot)
        await pilot.press("1")
        await settle(app, pilot)
        assert ("error", "item 1 not decided: RuntimeError: connection reset") in notes
        assert shown(app) == 1  # back on screen, still claimed
        assert statuses(seeded_queue)[1] == ("claimed", "alice")
        assert decisions(seeded_queue) == []
        await pilot.press("1")
        await settle(app, pilot)
        assert decisions(seeded_queue) == [(1, "no-violation", "active", "")]
