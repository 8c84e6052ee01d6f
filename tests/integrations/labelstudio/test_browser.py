"""The annotator's seat: Label Studio 1.23's own web page in headless Chromium.

An annotator (a Label Studio user made for the test, not the admin, linked to a
registered reviewer) works through a project modqueue pushed, the way a person does:
logs in, opens the labeling stream, reads and closes the instructions, reads a label's
hint, picks labels with the hotkeys, types notes, ticks "Show media" on a graphic item,
submits, skips one task.
Then modqueue pulls, and every decision, label, note, the skip and the reveal are checked.
Screenshots of the instructions and of the labeling screen are kept in
`.cache/artifacts/labelstudio/` (see `tests/support/browser.py`).
"""

from __future__ import annotations

import http.server
import re
import struct
import threading
import uuid
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

import pytest
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver import Chrome
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait
from sqlmodel import col, select

from modqueue.integrations.labelstudio import (
    LabelStudioClient,
    LabelStudioConfig,
    LabelStudioProject,
    LabelStudioTask,
    pull,
    push,
)
from modqueue.queue import (
    AuditEvent,
    Decision,
    Item,
    ItemStatus,
    ReviewQueue,
    add_reviewer,
    link_reviewer,
)
from tests.conftest import make_item
from tests.support.browser import artifacts_dir, chromium
from tests.support.labelstudio_server import LabelStudioServer

pytestmark = pytest.mark.slow

POLICY = "violent-threats"  # graphic: its media stay hidden until "Show media"
WAIT_S = 60.0  # the most any one step may take on a loaded 2-core machine

T = TypeVar("T")


@dataclass(frozen=True)
class Plan:
    """What the annotator does with one post: a hotkey (None: Skip), a note, a reveal."""

    hotkey: int | None
    label: str | None = None
    note: str = ""
    reveal: bool = False


# Post number -> what the annotator does. Predictions pre-select a label (score 0.9:
# remove-glorification, hotkey 3; 0.2: no-violation, hotkey 1): every hotkey here differs
# from its post's prediction, so each label really is the annotator's.
PLANS = {
    1: Plan(4, "remove-ban-threat", "knife pointed at a named man", reveal=True),
    2: Plan(1, "no-violation", "drill lyrics, no real target"),
    3: Plan(None),
    4: Plan(3, "remove-glorification"),
    5: Plan(2, "restrict-newsworthy", "news footage with context"),
}
SCORES = {1: 0.9, 2: 0.9, 3: 0.9, 4: 0.2, 5: 0.9}


def _png(width: int = 96, height: int = 64) -> bytes:
    """A small solid-colour PNG (no imaging library needed)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + bytes((200, 60, 40)) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


class _MediaServer:
    """A real local HTTP server for the items' images; it remembers what was fetched."""

    def __init__(self) -> None:
        self.fetched: list[str] = []
        image = _png()
        fetched = self.fetched

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fetched.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(image)))
                self.send_header("Access-Control-Allow-Origin", "*")
                self.end_headers()
                self.wfile.write(image)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def media_server() -> Iterator[_MediaServer]:
    server = _MediaServer()
    yield server
    server.close()


def _wait(driver: Chrome, what: str, check: Callable[[Chrome], T | None]) -> T:
    def attempt(d: Chrome) -> T | None:
        try:
            return check(d)
        except (StaleElementReferenceException, WebDriverException):
            return None

    try:
        result = cast(T, WebDriverWait(driver, WAIT_S, poll_frequency=0.2).until(attempt))
    except Exception as exc:
        shot = artifacts_dir() / "labelstudio" / "failure.png"
        shot.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(shot))
        shot.with_suffix(".html").write_text(driver.page_source, encoding="utf-8")
        raise AssertionError(f"waited {WAIT_S:.0f} s for {what}; screenshot: {shot}") from exc
    return result


def _visible(driver: Chrome, css: str) -> WebElement | None:
    for element in driver.find_elements(By.CSS_SELECTOR, css):
        if element.is_displayed():
            return element
    return None


def _click(driver: Chrome, css: str, what: str) -> None:
    """Click the visible `css` element like a person would: when nothing covers it (a
    notification toast does for a moment after each submit)."""

    def click(d: Chrome) -> bool | None:
        element = _visible(d, css)
        if element is None:
            return None
        element.click()  # raises, and is retried, while something covers it
        return True

    _wait(driver, what, click)


def _current_post(driver: Chrome) -> int | None:
    """The number of the post on the labeling screen, once its choices are ready."""
    if _visible(driver, "textarea[name=note]") is None:
        return None
    match = re.search(r"threat post (\d+)\b", driver.find_element(By.TAG_NAME, "body").text)
    return int(match.group(1)) if match else None


_SHOWN_IMAGE_JS = """
const img = document.querySelector('img[alt="image"]');
if (!img || !img.naturalWidth) return false;
const box = img.parentElement;
return box.offsetParent !== null && box.getBoundingClientRect().height > 0;
"""


def _revealed_image(driver: Chrome) -> bool | None:
    """Whether the item's image is loaded and on the screen (Label Studio draws it from a
    blob it fetched; a hidden `View` keeps it out of the layout)."""
    return bool(driver.execute_script(_SHOWN_IMAGE_JS)) or None


def _next_post(driver: Chrome, done: list[int]) -> int | None:
    post = _current_post(driver)
    return post if post is not None and post not in done else None


def _note_added(driver: Chrome, note: str) -> bool | None:
    """Whether `note` was added to the note's results (the input emptied or, its one
    submission made, gone)."""
    boxes = driver.find_elements(By.CSS_SELECTOR, "textarea[name=note]")
    added = note in driver.find_element(By.TAG_NAME, "body").text
    return (added and not any(box.get_attribute("value") for box in boxes)) or None


def _checked_choice(driver: Chrome) -> str | None:
    for radio in driver.find_elements(By.CSS_SELECTOR, "input[type=radio]"):
        if radio.is_selected():
            return str(radio.get_attribute("name"))
    return None


def _save(driver: Chrome, name: str, backend: str) -> Path:
    folder = artifacts_dir() / "labelstudio"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{backend}-{name}.png"
    assert driver.save_screenshot(str(path)), f"could not save {path}"
    print(f"screenshot: {path}")
    return path


def _log_in(driver: Chrome, server: LabelStudioServer, email: str, password: str) -> None:
    driver.get(f"{server.url}/user/login/")
    _wait(driver, "the login form", lambda d: _visible(d, "input[name=email]")).send_keys(email)
    driver.find_element(By.CSS_SELECTOR, "input[name=password]").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "button[type=submit], input[type=submit]").click()
    _wait(driver, "the login to finish", lambda d: "/user/login" not in d.current_url or None)


def _press(driver: Chrome, key: str) -> None:
    """Press `key` on the page, as a person does with nothing focused."""
    driver.execute_script("document.activeElement && document.activeElement.blur()")
    driver.find_element(By.TAG_NAME, "body").send_keys(key)


def _annotate(driver: Chrome, plan: Plan, post: int, backend: str) -> None:
    if plan.hotkey is None:
        _click(driver, "[data-testid=bottombar-skip-button]", "the Skip button")
        return
    if plan.reveal:
        box = _wait(
            driver,
            "the Show media box",
            lambda d: d.find_element(By.CSS_SELECTOR, "input[name='Show media']"),
        )
        driver.execute_script("arguments[0].click()", box)
        _wait(driver, "the revealed image", _revealed_image)
    if post == 2:  # hovering a choice shows its label's description from the guideline
        hint = "No threat, glorification or footage of real violence."
        assert hint not in driver.find_element(By.TAG_NAME, "body").text
        choice = driver.find_element(By.XPATH, "//label//span/span[starts-with(., '1 · ')]")
        ActionChains(driver).move_to_element(choice).pause(0.5).move_by_offset(2, 0).perform()
        _wait(driver, "the hint", lambda d: hint in d.find_element(By.TAG_NAME, "body").text)
    _press(driver, str(plan.hotkey))
    expected = f"{plan.hotkey} · "
    _wait(
        driver,
        f"hotkey {plan.hotkey} to select its label",
        lambda d: (_checked_choice(d) or "").startswith(expected) or None,
    )
    if plan.note:
        note = driver.find_element(By.CSS_SELECTOR, "textarea[name=note]")
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", note)
        note.click()
        note.send_keys(plan.note)
        _click(driver, "[data-testid=textarea-add-button]", "the note's Add button")
        _wait(driver, "the note to be added", lambda d: _note_added(d, plan.note))
    if plan.reveal:
        driver.execute_script(
            "document.querySelectorAll('*').forEach(e => { if (e.scrollTop) e.scrollTop = 0; })"
        )
        _save(driver, "labeling", backend)
    _click(driver, "[data-testid=bottombar-submit-button]", "the Submit button")


def _decisions(q: ReviewQueue, item_id: int) -> list[Decision]:
    return q.run(
        lambda s: list(s.scalars(select(Decision).where(col(Decision.item_id) == item_id)).all())
    )


def _events(q: ReviewQueue, event: str) -> list[AuditEvent]:
    return q.run(
        lambda s: list(
            s.scalars(
                select(AuditEvent)
                .where(col(AuditEvent.event) == event)
                .order_by(col(AuditEvent.id))
            ).all()
        )
    )


def test_an_annotator_labels_in_the_browser_and_the_pull_brings_it_all_back(
    review_queue: ReviewQueue,
    ls_server: LabelStudioServer,
    ls_client: LabelStudioClient,
    media_server: _MediaServer,
    database_url: str,
    tmp_path: Path,
) -> None:
    q = review_queue
    backend = database_url.split(":", 1)[0].split("+", 1)[0]
    email, password = f"browser-{uuid.uuid4().hex[:8]}@modqueue.test", "annotator-password-3"
    ls_server.create_user(email, password)
    q.run(lambda s: add_reviewer(s, actor=None, name="root", role="admin", now=q.clock()))
    q.run(
        lambda s: add_reviewer(
            s, actor="root", name="maya", role="reviewer", policies=[POLICY], now=q.clock()
        )
    )
    q.run(
        lambda s: link_reviewer(
            s, actor="root", name="maya", labelstudio_email=email, now=q.clock()
        )
    )
    items = []
    for n in PLANS:
        fields: dict[str, Any] = {
            "policy": POLICY,
            # Letters tell the posts apart: ingest clusters texts differing only in digits.
            "text": f"threat post {n} ({''.join(chr(97 + int(d)) for d in str(n))})",
            "signals": [{"name": "violence-clf-v1", "score": SCORES[n]}],
        }
        if n == 1:
            fields["media"] = [{"kind": "image", "url": f"{media_server.url}/media/post-1.png"}]
        items.append(make_item(n, **fields))
    q.enqueue(items)
    config = LabelStudioConfig(
        queues=[POLICY], share=1.0, project_prefix=f"browser-{uuid.uuid4().hex[:10]}"
    )
    assert push(q, ls_client, config).pushed == len(PLANS)
    project = q.run(lambda s: s.get(LabelStudioProject, POLICY))
    assert project is not None
    ids = q.run(lambda s: {row.item_id: row for row in s.scalars(select(LabelStudioTask))})
    by_post = q.run(
        lambda s: {
            int(item.external_id.removeprefix("post-")): item.id or 0
            for item in s.scalars(select(Item))
        }
    )

    with chromium(tmp_path / "chromium", height=1500) as driver:
        _log_in(driver, ls_server, email, password)
        driver.get(f"{ls_server.url}/projects/{project.project_id}/data?labeling=1")
        close = _wait(
            driver, "the instructions", lambda d: _visible(d, "button[aria-label='Close modal']")
        )
        instructions = driver.find_element(By.TAG_NAME, "body").text
        assert "Which label when" in instructions
        assert "|" not in instructions and "**" not in instructions
        assert "• Videos or photos of a gun or knife" in instructions  # list markers show
        assert driver.find_elements(By.CSS_SELECTOR, "table[border] td")  # the examples
        _save(driver, "instructions", backend)
        close.click()
        done: list[int] = []
        for _ in PLANS:
            post = _wait(
                driver,
                f"the next post after {done}",
                lambda d: _next_post(d, done),
            )
            if post == 1:
                assert not _revealed_image(driver), "graphic media shown before Show media"
            _annotate(driver, PLANS[post], post, backend)
            done.append(post)
        assert sorted(done) == sorted(PLANS)

    report = pull(q, ls_client)
    assert (report.decided, report.returned, report.rejected) == (4, 1, [])
    for post, plan in PLANS.items():
        item_id = by_post[post]
        item = q.get_item(item_id)
        decisions = _decisions(q, item_id)
        if plan.label is None:
            assert decisions == []
            assert item.status == ItemStatus.PENDING
            (released,) = [e for e in _events(q, "released") if e.item_id == item_id]
            assert released.actor == "maya"
            assert (released.detail or {}).get("labelstudio") == "skipped"
            continue
        (decision,) = decisions
        assert (decision.reviewer, decision.label, decision.note) == ("maya", plan.label, plan.note)
        assert decision.origin == "labelstudio" and decision.guideline_id == POLICY
        assert item.status == ItemStatus.DECIDED and item.final_label == plan.label
        assert decision.external_ref is not None and ids[item_id].task_id is not None
    reveals = _events(q, "revealed")
    assert [(e.actor, e.item_id) for e in reveals] == [("maya", by_post[1])]
    assert media_server.fetched and set(media_server.fetched) == {"/media/post-1.png"}
    assert pull(q, ls_client).decided == 0
    assert len(_events(q, "revealed")) == 1
