"""`ReviewApp`: the reviewer's terminal UI on one `ReviewQueue`."""

from __future__ import annotations

from functools import partial
from pathlib import PurePath
from typing import ClassVar, Unpack

from textual.app import App
from textual.binding import Binding, BindingType

from modqueue._sections.tui import TuiConfig
from modqueue.integrations.media import MediaConfig, fetch_media
from modqueue.queue import ReviewQueue
from modqueue.tui._keys import binding
from modqueue.tui._options import AppMode, AppOptions
from modqueue.tui.screens import DashboardScreen, HelpScreen, QueuesScreen, ReviewScreen

__all__ = ["ReviewApp"]


class ReviewApp(App[None]):
    """Review, queue picker and lead dashboard; keys remapped from `config.keys`."""

    CSS_PATH: ClassVar[list[str | PurePath]] = [
        "app.tcss",
        "components/media_panel.tcss",
        "components/cluster_card.tcss",
    ]
    TITLE = "modqueue"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS: ClassVar[list[BindingType]] = [
        binding("help", "help"),
        Binding("ctrl+c", "quit", "Quit", show=False, id="interrupt", priority=True),
    ]

    def __init__(self, *, queue: ReviewQueue, reviewer: str, **options: Unpack[AppOptions]) -> None:
        super().__init__()
        self.queue = queue
        self.reviewer = reviewer
        self.queues = options.get("queues")
        self.mode: AppMode = options.get("mode", "review")
        self.config = options.get("config") or TuiConfig()
        media = options.get("media") or MediaConfig()
        self.media_fetch = options.get("media_fetch") or partial(fetch_media, config=media)
        self.set_keymap(dict(self.config.keys))

    def on_mount(self) -> None:
        self.sub_title = f"reviewer {self.reviewer}"
        if self.mode == "lead":
            self.push_screen(
                DashboardScreen(
                    queue=self.queue,
                    reviewer=self.reviewer,
                    refresh_seconds=self.config.dashboard_refresh,
                )
            )
        elif self.mode == "pick":
            self.open_queue_picker(include_senior=False, exit_on_back=True)
        else:
            self.push_screen(self._review_screen(self.queues, exit_on_quit=True))

    def _review_screen(self, queues: list[str] | None, *, exit_on_quit: bool) -> ReviewScreen:
        return ReviewScreen(
            queue=self.queue,
            reviewer=self.reviewer,
            queues=queues,
            config=self.config,
            exit_on_quit=exit_on_quit,
            media_fetch=self.media_fetch,
        )

    def open_queue_picker(self, *, include_senior: bool, exit_on_back: bool = False) -> None:
        """Show the queue picker; the picked queue opens in a review screen."""

        def picked(choice: str | None) -> None:
            if choice is None:
                if exit_on_back:
                    self.exit()
                return
            queues = [choice] if choice else None
            self.push_screen(self._review_screen(queues, exit_on_quit=self.mode == "pick"))

        self.push_screen(QueuesScreen(queue=self.queue, include_senior=include_senior), picked)

    def action_help(self) -> None:
        """Show every key and what it does."""
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(dict(self.config.keys)))
