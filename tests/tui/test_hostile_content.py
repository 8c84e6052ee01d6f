"""Item text is shown literally: markup, escape sequences, control characters, huge text,
right-to-left text and emoji neither style nor move nor break the screen."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from rich.text import Text
from textual.content import Content
from textual.widgets import Static

from modqueue.queue import ReviewQueue
from modqueue.tui import TuiConfig
from modqueue.tui.components import ItemCard, literal, literal_block, sanitize
from tests.conftest import Clock, make_item
from tests.tui.conftest import SIZE, make_app, settle, statuses

HOSTILE = {
    "markup": "[bold red]x[/]",
    "link": "[link=file:///etc/passwd]y[/link]",
    "ansi": "\x1b[2J\x1b[31m",
    "rtl": "مرحبا שלום hello 👋🏽 👨‍👩‍👧 ‮reversed‬ done",
}


def test_sanitize_escapes_controls_and_keeps_text() -> None:
    assert sanitize("\x1b[2J\x1b[31m") == "\\x1b[2J\\x1b[31m"
    assert sanitize("a\tb\r\n\x00\x7f\x9b") == "a    b\\x0d\n\\x00\\x7f\\x9b"
    assert sanitize("\u202ereversed\u2066") == "\\u202ereversed\\u2066"
    assert sanitize("\ud800 lone") == "\\ud800 lone"
    assert sanitize("مرحبا שלום 👋🏽 👨‍👩‍👧") == "مرحبا שלום 👋🏽 👨‍👩‍👧"


def test_literal_never_parses_markup() -> None:
    text = literal("[bold red]x[/] [link=file:///etc/passwd]y[/link]")
    assert text.plain == "[bold red]x[/] [link=file:///etc/passwd]y[/link]"
    assert text.spans == []
    assert literal("a\nb").plain == "a\\nb"


def test_literal_block_truncates_huge_text_with_a_note() -> None:
    huge = "x" * (5 * 1024 * 1024)
    text = literal_block(huge, max_chars=20_000)
    assert text.plain.startswith("x" * 20_000)
    assert "showing 20,000 of 5,242,880 characters" in text.plain
    many_lines = "line\n" * 10_000
    cut = literal_block(many_lines, max_chars=1_000_000, max_lines=400)
    assert cut.plain.count("\n") == 400  # 400 lines, then the note on its own line
    assert isinstance(cut, Text)


@pytest.fixture
def sqlite_url(tmp_path: object) -> str:
    return f"sqlite:///{tmp_path}/hostile.db"


@pytest.fixture
def hostile_queue(sqlite_url: str, clock: Clock) -> Iterator[ReviewQueue]:
    queue = ReviewQueue(sqlite_url, clock=clock)
    items = [
        make_item(
            n,
            text=value,
            url="https://example.com/" + value.replace(" ", ""),
            author={"id": value[:100], "handle": value[:100]},
            media=[{"kind": value[:40], "url": "https://m.example.net/" + value.replace(" ", "")}],
            signals=[{"name": value[:100], "score": 0.99 - n / 100}],
        )
        for n, value in enumerate(HOSTILE.values(), start=1)
    ]
    items.append(make_item(9, text="A" * (5 * 1024 * 1024 - 10), views=0, signals=[]))
    report = queue.enqueue(items)
    assert report.new == 5, report.rejected
    yield queue
    queue.close()


def rendered(app: object) -> str:
    card = app.screen.query_one(ItemCard)  # type: ignore[attr-defined]
    return "\n".join(str(w.render()) for w in card.query(Static))


async def test_hostile_items_render_literally_and_are_decided(
    hostile_queue: ReviewQueue,
) -> None:
    app = make_app(hostile_queue, TuiConfig())
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        for n, value in enumerate(HOSTILE.values(), start=1):
            card = app.screen.query_one(ItemCard)
            assert card.shown_item_id == n
            await pilot.press("r")
            await settle(app, pilot)
            text = app.screen.query_one("#item-text", Static).render()
            assert isinstance(text, Content)
            assert text.plain == sanitize(value)
            assert text.spans == []  # no style, no link: the brackets are just characters
            screen_text = rendered(app)
            assert "\x1b" not in screen_text and "\u202e" not in screen_text
            await pilot.press("1")
            await settle(app, pilot)
        assert app.screen.query_one(ItemCard).shown_item_id == 5
        text = app.screen.query_one("#item-text", Static).render()
        assert isinstance(text, Content)
        assert "showing 20,000 of 5,242,870 characters" in text.plain
        await pilot.press("1")
        await settle(app, pilot)
        assert app.is_running
    assert [s for s, _ in statuses(hostile_queue).values()] == ["decided"] * 5
