"""The item's media in place: images (and video thumbnails) drawn in the terminal,
protected until the reviewer reveals them.

Images are fetched through the safe fetcher (`modqueue.integrations.media`), decoded and
protected with Pillow in a thread worker, and kept in memory only. The worker posts
`Loaded` or `LoadFailed` back; only the panel's handlers touch widgets. A new item (or
none) drops every image of the previous one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from PIL import Image as PILImage
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Static
from textual_image.widget import HalfcellImage, SixelImage, TGPImage, UnicodeImage
from textual_image.widget import Image as AutoImage

from modqueue._sections.tui import ImageProtocol
from modqueue.guidelines import MediaView
from modqueue.integrations.media import FetchedMedia
from modqueue.queue import MediaKind
from modqueue.tui.components.literal import literal
from modqueue.tui.components.media_image import PreparedImage, prepare_image

__all__ = ["MediaEntry", "MediaFetch", "MediaPanel", "MediaRequest", "media_entries"]

MediaFetch = Callable[[str], FetchedMedia]
"""Fetches one media URL into memory: the safe fetcher with `[media]`'s limits
(`modqueue.integrations.media.fetch_media`), or the demo's sample images."""

_WIDGETS: dict[str, Any] = {
    "auto": AutoImage,
    "sixel": SixelImage,
    "kitty": TGPImage,
    "halfcell": HalfcellImage,
    "unicode": UnicodeImage,
}


@dataclass(frozen=True, slots=True)
class MediaEntry:
    """One media file of an item: its place in `media`, its kind as sent, and what can be
    drawn of it (`image_url`: the image itself, or a video's thumbnail; `None`: nothing)."""

    index: int
    kind: str
    url: str
    image_url: str | None

    @property
    def audit_kind(self) -> MediaKind | None:
        """`"image"` or `"video"` when something is drawn, else `None`."""
        if self.image_url is None:
            return None
        return "video" if self.kind.lower() == "video" else "image"


def media_entries(media: Sequence[dict[str, Any]]) -> list[MediaEntry]:
    """The item's `media` as entries: images drawn from their URL, videos from their
    `thumbnail_url` if the platform sent one (nothing plays), other kinds not drawn."""
    out = []
    for index, raw in enumerate(media):
        kind = str(raw.get("kind", "media"))
        url = str(raw.get("url", ""))
        thumb = raw.get("thumbnail_url")
        if kind.lower() == "image":
            image_url: str | None = url
        elif kind.lower() == "video" and isinstance(thumb, str) and thumb:
            image_url = thumb
        else:
            image_url = None
        out.append(MediaEntry(index=index, kind=kind, url=url, image_url=image_url))
    return out


@dataclass(frozen=True, slots=True)
class MediaRequest:
    """What the panel shows: the item's media under its policy's view and the reviewer's
    own choice, revealed or not."""

    item_id: int
    policy: str
    policy_view: MediaView
    preference: MediaView | None
    media: tuple[MediaEntry, ...]
    revealed: bool
    reveal_key: str
    fetch: MediaFetch

    @property
    def view(self) -> MediaView:
        """The protection in force: the reviewer's choice, never weaker than the policy's."""
        if self.preference is None:
            return self.policy_view
        return self.preference.at_least(self.policy_view)

    @property
    def weaker_refused(self) -> bool:
        """The reviewer asked for less protection than the policy allows."""
        return self.preference is not None and self.preference.strength < self.policy_view.strength


@dataclass(slots=True)
class _Slot:
    """The widgets of one media file: a caption, then a placeholder or the picture."""

    box: Vertical
    caption: Static
    placeholder: Static
    image: Widget | None = None
    state: str = "none"

    @classmethod
    def build(cls, entry: MediaEntry, token: int) -> _Slot:
        caption = Static(classes="media-caption")
        placeholder = Static(classes="media-placeholder")
        slot_id = f"media-{token}-{entry.index}"
        box = Vertical(caption, placeholder, id=slot_id, classes="media-slot")
        return cls(box=box, caption=caption, placeholder=placeholder)

    @property
    def picture_data(self) -> PILImage.Image | None:
        """The picture drawn now (`None`: none)."""
        if self.image is None or not self.image.display:
            return None
        data = self.image.image  # type: ignore[attr-defined]
        return data if isinstance(data, PILImage.Image) else None

    def placeholder_text(self, text: Text, state: str) -> None:
        if self.image is not None and self.image.display:
            self.image.image = None  # type: ignore[attr-defined]  # dropped from memory
            self.image.display = False
        self.placeholder.update(text)
        self.placeholder.display = True
        self.state = state

    def picture(self, data: PILImage.Image, state: str, protocol: ImageProtocol) -> None:
        self.placeholder.display = False
        if self.image is None:
            self.image = _WIDGETS[protocol](data, classes="media-image")
            self.box.mount(self.image)
        elif self.state != state or not self.image.display:
            self.image.image = data  # type: ignore[attr-defined]
            self.image.display = True
        self.state = state


class MediaPanel(Vertical):
    """The media of the item on screen, one slot per file."""

    @dataclass
    class Loaded(Message):
        """An image of item `item_id` was fetched and prepared (`token`: which showing)."""

        token: int
        index: int
        image: PreparedImage

    @dataclass
    class LoadFailed(Message):
        """An image could not be fetched or decoded: `error` says why."""

        token: int
        index: int
        error: str

    def __init__(self, *, protocol: ImageProtocol = "auto", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.protocol: ImageProtocol = protocol
        self.request: MediaRequest | None = None
        self.token = 0
        self.images: dict[int, PreparedImage] = {}
        self.errors: dict[int, str] = {}
        self.fetching: set[int] = set()
        self.slots: dict[int, _Slot] = {}

    def compose(self) -> ComposeResult:
        yield Static(id="media-note")

    # -- what the screen calls ---------------------------------------------------------

    def _forget(self) -> None:
        self.token += 1
        self.images.clear()
        self.errors.clear()
        self.fetching.clear()

    def clear(self) -> None:
        """No item: drop every image."""
        self.request = None
        self.token += 1
        self.images.clear()
        self.errors.clear()
        self.fetching.clear()
        for slot in self.slots.values():
            slot.box.remove()
        self.slots.clear()
        self.query_one("#media-note", Static).update("")
        self.display = False

    def show_media(self, request: MediaRequest) -> None:
        """Show `request`: a new item starts over (protected, its images fetched in the
        background); the same item only swaps protected and clear pictures."""
        before = self.request
        if before is None or before.item_id != request.item_id or before.media != request.media:
            if before is not None and len(before.media) == len(request.media):
                # the same number of files: the slots are reused (no widgets mounted or
                # removed while the next item is drawn); their pictures are dropped
                self._forget()
            else:
                self.clear()
                if not request.media:
                    return
                self.display = True
                self.slots = {e.index: _Slot.build(e, self.token) for e in request.media}
                self.mount_all([slot.box for slot in self.slots.values()])
        self.request = request
        self._note()
        for entry in request.media:
            self._refresh_slot(entry)

    def revealable(self) -> list[MediaEntry]:
        """The entries `r` reveals now (those drawn in place)."""
        if self.request is None:
            return []
        return [e for e in self.request.media if e.image_url is not None]

    def shown_views(self) -> dict[int, str]:
        """Which picture each slot shows now: `"clear"`, the protection's name, `"hidden"`,
        `"loading"`, `"failed"` or `"none"` (for tests and the bench)."""
        out: dict[int, str] = {}
        for index, slot in self.slots.items():
            out[index] = slot.state
        return out

    # -- slots -------------------------------------------------------------------------

    def _note(self) -> None:
        request = self.request
        note = self.query_one("#media-note", Static)
        if request is None:
            note.update("")
            return
        text = Text()
        view = request.view
        if request.revealed:
            text.append("media revealed", style="bold")
            text.append(f" · {request.reveal_key} hides them again")
        else:
            text.append(f"media {view.value}", style="bold")
            if request.weaker_refused and request.preference is not None:
                text.append(
                    f" · your setting '{request.preference.value}' is weaker than the "
                    f"{request.policy} policy's '{request.policy_view.value}', which applies"
                )
            elif request.preference is not None and view is not request.policy_view:
                text.append(f" · your choice (policy: {request.policy_view.value})")
            else:
                text.append(f" · {request.policy} policy")
            text.append(f" · {request.reveal_key} reveals")
        note.update(text)

    def _refresh_slot(self, entry: MediaEntry) -> None:
        request = self.request
        slot = self.slots.get(entry.index)
        if request is None or slot is None:
            return
        caption = Text()
        caption.append(literal(entry.kind, style="bold"))
        caption.append(f" {entry.index + 1} of {len(request.media)}", style="bold")
        if entry.image_url is not None and entry.image_url != entry.url:
            caption.append(" · thumbnail (nothing plays)", style="dim")
        slot.caption.update(caption)
        if entry.image_url is None:
            what = "; no thumbnail sent, nothing plays" if entry.kind.lower() == "video" else ""
            slot.placeholder_text(Text(f"not shown in place{what}", style="italic"), "none")
            return
        if not request.revealed and request.view is MediaView.HIDDEN:
            slot.placeholder_text(
                Text(f"hidden: not fetched until you press {request.reveal_key}", style="italic"),
                "hidden",
            )
            return
        prepared = self.images.get(entry.index)
        if prepared is None:
            if entry.index in self.errors:
                slot.placeholder_text(literal(f"not shown: {self.errors[entry.index]}"), "failed")
                return
            slot.placeholder_text(Text("loading…", style="italic dim"), "loading")
            if entry.index not in self.fetching:
                self.fetching.add(entry.index)
                # after the next paint: the item's text is on screen before any
                # fetching, decoding or blurring competes with drawing it
                self.call_after_refresh(
                    self._load,
                    self.token,
                    entry.index,
                    entry.image_url,
                    request.view,
                    request.fetch,
                )
            return
        if request.revealed:
            slot.picture(prepared.clear, "clear", self.protocol)
        else:
            slot.picture(prepared.protected, request.view.value, self.protocol)

    # -- the worker (never touches widgets) --------------------------------------------

    @work(thread=True, group="media")
    def _load(self, token: int, index: int, url: str, view: MediaView, fetch: MediaFetch) -> None:
        try:
            fetched = fetch(url)
            prepared = prepare_image(fetched.content, view)
        except Exception as exc:
            self.post_message(self.LoadFailed(token, index, str(exc) or type(exc).__name__))
            return
        self.post_message(self.Loaded(token, index, prepared))

    @on(Loaded)
    def _loaded(self, message: Loaded) -> None:
        message.stop()
        if message.token != self.token or self.request is None:
            return  # an image of an item no longer on screen: dropped
        self.fetching.discard(message.index)
        self.images[message.index] = message.image
        self._refresh_entry(message.index)

    @on(LoadFailed)
    def _load_failed(self, message: LoadFailed) -> None:
        message.stop()
        if message.token != self.token or self.request is None:
            return
        self.fetching.discard(message.index)
        self.errors[message.index] = message.error
        self._refresh_entry(message.index)

    def _refresh_entry(self, index: int) -> None:
        if self.request is None:
            return
        for entry in self.request.media:
            if entry.index == index:
                self._refresh_slot(entry)
