"""What Label Studio shows: the labeling config, the instructions and each task's data.

The labeling config is written here as XML (more predictable than the SDK's builder):
the item's text, a context panel (URL, media, metadata, signals), the guideline's labels
as single-choice `verdict` (each Choice's `alias` is the label id, its hotkey the
guideline's), and a free-text `note`.
"""

from __future__ import annotations

import hashlib
import html
import re
from typing import Any
from xml.sax.saxutils import quoteattr

from modqueue.guidelines import Action, Guideline, Label
from modqueue.queue import Item

__all__ = [
    "NOTE_FIELD",
    "VERDICT_FIELD",
    "config_hash",
    "instructions_html",
    "labeling_config",
    "predicted_label",
    "task_for_item",
]

VERDICT_FIELD = "verdict"
NOTE_FIELD = "note"
TEXT_FIELD = "text"
ITEM_ID_KEY = "modqueue_item_id"
BATCH_KEY = "modqueue_batch"
TAKEDOWN_PREFERENCE = (
    Action.REMOVE,
    Action.RESTRICT,
    Action.REMOVE_AND_BAN,
    Action.REFER_LAW_ENFORCEMENT,
)


def _attr(value: str) -> str:
    # `$name` inside an attribute is a task variable in Label Studio: keep titles literal.
    return quoteattr(value.replace("$", "\uff04"))


def labeling_config(guideline: Guideline) -> str:
    """The labeling config XML for `guideline`'s labels."""
    choices = "\n".join(
        f"    <Choice value={_attr(f'{label.hotkey} · {label.title}')} "
        f"alias={_attr(label.id)} hotkey={_attr(str(label.hotkey))}/>"
        for label in sorted(guideline.labels, key=lambda label: label.hotkey)
    )
    title = f"{guideline.title} ({guideline.id}, {guideline.version})"
    return (
        "<View>\n"
        f"  <Header value={_attr(title)}/>\n"
        f'  <Text name="{TEXT_FIELD}" value="$text"/>\n'
        '  <HyperText name="context" value="$context_html"/>\n'
        '  <Header value="Verdict"/>\n'
        f'  <Choices name="{VERDICT_FIELD}" toName="{TEXT_FIELD}" choice="single-radio" '
        'required="true" showInline="false">\n'
        f"{choices}\n"
        "  </Choices>\n"
        f'  <TextArea name="{NOTE_FIELD}" toName="{TEXT_FIELD}" placeholder="Note (optional)" '
        'maxSubmissions="1" editable="true" rows="2"/>\n'
        "</View>\n"
    )


def config_hash(config: str, instructions: str) -> str:
    """A fingerprint of what `setup` writes into the project."""
    return hashlib.sha256(f"{config}\x00{instructions}".encode()).hexdigest()


_BOLD = re.compile(r"\*\*(.+?)\*\*")
_CODE = re.compile(r"`([^`]+)`")


def _inline(text: str) -> str:
    out = html.escape(text, quote=False)
    out = _BOLD.sub(r"<b>\1</b>", out)
    return _CODE.sub(r"<code>\1</code>", out)


def instructions_html(guideline: Guideline) -> str:
    """The guideline's markdown body as simple HTML (headings, lists, paragraphs)."""
    parts: list[str] = [
        f"<p><i>Guideline {html.escape(guideline.id)}, version "
        f"{html.escape(guideline.version)}</i></p>"
    ]
    paragraph: list[str] = []
    open_list: str | None = None

    def flush_paragraph() -> None:
        if paragraph:
            parts.append(f"<p>{_inline(' '.join(paragraph))}</p>")
            paragraph.clear()

    def close_list() -> None:
        nonlocal open_list
        if open_list:
            parts.append(f"</{open_list}>")
            open_list = None

    for raw in guideline.body.splitlines():
        line = raw.rstrip()
        stripped = line.lstrip()
        heading = re.match(r"^(#{1,6})\s+(.*)$", stripped)
        bullet = re.match(r"^(?:([-*])|\d+[.)])\s+(.*)$", stripped)
        if bullet and not line.startswith("    "):
            flush_paragraph()
            tag = "ul" if bullet.group(1) else "ol"
            if open_list != tag:
                close_list()
                parts.append(f"<{tag}>")
                open_list = tag
            parts.append(f"<li>{_inline(bullet.group(2))}</li>")
            continue
        if open_list and stripped and line.startswith(" ") and parts[-1].endswith("</li>"):
            parts[-1] = parts[-1][: -len("</li>")] + " " + _inline(stripped) + "</li>"
            continue
        close_list()
        if heading:
            flush_paragraph()
            level = min(len(heading.group(1)) + 1, 6)
            parts.append(f"<h{level}>{_inline(heading.group(2))}</h{level}>")
        elif not stripped:
            flush_paragraph()
        else:
            paragraph.append(stripped)
    close_list()
    flush_paragraph()
    return "\n".join(parts)


def predicted_label(guideline: Guideline, score: float) -> Label | None:
    """The pre-annotation for a strongest signal scoring `score`.

    At 0.5 or more, the guideline's first takedown label (remove, then restrict, remove and
    ban, refer); below, its first label whose action is `none`.
    """
    if score >= 0.5:
        for action in TAKEDOWN_PREFERENCE:
            for label in guideline.labels:
                if label.action == action:
                    return label
        return None
    for label in guideline.labels:
        if label.action == Action.NONE:
            return label
    return None


def _context_html(item: Item) -> str:
    rows: list[tuple[str, str]] = [
        ("Source", html.escape(f"{item.source} / {item.external_id}")),
    ]
    if item.url:
        link = html.escape(item.url)
        rows.append(("URL", f'<a href="{link}" target="_blank" rel="noopener">{link}</a>'))
    if item.author_handle or item.author_id:
        rows.append(("Author", html.escape(item.author_handle or item.author_id or "")))
    rows.append(("Reports", str(item.report_count)))
    rows.append(("Views", f"{item.views:,}"))
    if item.flagged_at is not None:
        rows.append(("Flagged at", item.flagged_at.isoformat()))
    if item.signals:
        rows.append(
            (
                "Signals",
                ", ".join(
                    html.escape(f"{s.get('name')}: {float(s.get('score', 0.0)):.2f}")
                    for s in item.signals
                ),
            )
        )
    media_parts = []
    for media in item.media:
        url = html.escape(str(media.get("url", "")))
        kind = html.escape(str(media.get("kind", "media")))
        if kind == "image":
            media_parts.append(
                f'<a href="{url}" target="_blank" rel="noopener">'
                f'<img src="{url}" alt="{kind}" style="max-width:320px;max-height:240px"/></a>'
            )
        else:
            media_parts.append(f'<a href="{url}" target="_blank" rel="noopener">{kind}: {url}</a>')
    if media_parts:
        rows.append(("Media", "<br/>".join(media_parts)))
    body = "".join(f"<tr><th align='left'>{k}</th><td>{v}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def task_for_item(item: Item, guideline: Guideline, batch: str) -> dict[str, Any]:
    """The Label Studio task for `item`: its data, its meta and the prediction."""
    assert item.id is not None
    task: dict[str, Any] = {
        "data": {
            TEXT_FIELD: item.text or "",
            "context_html": _context_html(item),
            ITEM_ID_KEY: item.id,
            BATCH_KEY: batch,
            "source": item.source,
            "external_id": item.external_id,
        },
        "meta": {ITEM_ID_KEY: item.id, BATCH_KEY: batch},
    }
    scored = [s for s in item.signals if isinstance(s.get("score"), int | float)]
    if scored:
        strongest = max(scored, key=lambda s: float(s["score"]))
        label = predicted_label(guideline, float(strongest["score"]))
        if label is not None:
            task["predictions"] = [
                {
                    "model_version": str(strongest.get("name", "signal"))[:200],
                    "score": float(strongest["score"]),
                    "result": [
                        {
                            "from_name": VERDICT_FIELD,
                            "to_name": TEXT_FIELD,
                            "type": "choices",
                            "value": {"choices": [label.id]},
                        }
                    ],
                }
            ]
    return task
