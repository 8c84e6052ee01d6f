"""What Label Studio shows: the labeling config, the instructions and each task's data.

The labeling config is written here as XML (more predictable than the SDK's builder):
the item's text, a context panel (URL, metadata, signals), the item's media (images in
an `Image` tag, other media as links; for a graphic guideline hidden until the annotator
ticks `show_media`), the guideline's labels as single-choice `verdict` (each Choice's
`alias` is the label id, its hotkey the guideline's, its `hint` the label's description),
and a free-text `note`. The instructions are the guideline's markdown body rendered with
markdown-it-py (tables, nested lists, emphasis, links; raw HTML in it is escaped).
"""

from __future__ import annotations

import hashlib
import html
from typing import Any
from xml.sax.saxutils import quoteattr

from markdown_it import MarkdownIt

from modqueue.guidelines import Action, Guideline, Label
from modqueue.queue import Item

__all__ = [
    "MEDIA_SHOWN",
    "NOTE_FIELD",
    "REVEAL_FIELD",
    "VERDICT_FIELD",
    "choice_value",
    "config_hash",
    "instructions_html",
    "label_id_of_choice",
    "labeling_config",
    "predicted_label",
    "task_for_item",
]

VERDICT_FIELD = "verdict"
NOTE_FIELD = "note"
TEXT_FIELD = "text"
REVEAL_FIELD = "show_media"
MEDIA_SHOWN = "Show media"
IMAGE_KEY = "image"
# What the Image tag shows for an item without an image: a transparent pixel (Label Studio
# 1.23's Image tag breaks the labeling stream on an empty value or an empty valueList).
NO_IMAGE = (
    "data:image/png;base64,"
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAAC0lEQVR42mNg"
    "AAIAAAUAAen63NgAAAAASUVORK5CYII="
)
MEDIA_HTML_KEY = "media_html"
ITEM_ID_KEY = "modqueue_item_id"
BATCH_KEY = "modqueue_batch"
TAKEDOWN_PREFERENCE = (
    Action.REMOVE,
    Action.RESTRICT,
    Action.REMOVE_AND_BAN,
    Action.REFER_LAW_ENFORCEMENT,
)
_DOLLAR = "\uff04"


def _attr(value: str) -> str:
    # `$name` inside an attribute is a task variable in Label Studio: keep titles literal.
    return quoteattr(value.replace("$", _DOLLAR))


def choice_value(label: Label) -> str:
    """The text of `label`'s Choice in Label Studio (`"<hotkey> · <title>"`)."""
    return f"{label.hotkey} · {label.title}"


def label_id_of_choice(guideline: Guideline, choice: str) -> str:
    """The label id an annotation's `verdict` choice stands for.

    Label Studio's own frontend stores a Choice's `alias` (the label id); scripts and ML
    backends posting through the API often send its `value` (`"1 · No violation"`, as
    shown, or with the title's `$` as written). Both give the label id; anything else is
    returned unchanged (the decision path then names the valid labels).
    """
    for label in guideline.labels:
        if choice == label.id:
            return label.id
    wanted = choice.strip().replace(_DOLLAR, "$")
    for label in guideline.labels:
        if wanted == choice_value(label):
            return label.id
    return choice


def _choice(label: Label) -> str:
    hint = f" hint={_attr(label.description)}" if label.description else ""
    return (
        f"    <Choice value={_attr(choice_value(label))} alias={_attr(label.id)} "
        f"hotkey={_attr(str(label.hotkey))}{hint}/>"
    )


def _media_view(guideline: Guideline) -> str:
    media = (
        f'    <Image name="image" value="${IMAGE_KEY}" maxWidth="480px" zoomControl="false"/>\n'
        f'    <HyperText name="media" value="${MEDIA_HTML_KEY}"/>\n'
    )
    if not guideline.graphic:
        return f'  <View style="margin-top: 8px">\n{media}  </View>\n'
    return (
        f'  <Choices name="{REVEAL_FIELD}" toName="{TEXT_FIELD}" choice="multiple" '
        'showInline="true">\n'
        f"    <Choice value={_attr(MEDIA_SHOWN)} "
        'hint="Graphic policy: the media stay hidden until you tick this; ticking it is '
        'recorded"/>\n'
        "  </Choices>\n"
        f'  <View visibleWhen="choice-selected" whenTagName="{REVEAL_FIELD}" '
        f"whenChoiceValue={_attr(MEDIA_SHOWN)}>\n{media}  </View>\n"
    )


def labeling_config(guideline: Guideline) -> str:
    """The labeling config XML for `guideline`'s labels."""
    choices = "\n".join(
        _choice(label) for label in sorted(guideline.labels, key=lambda label: label.hotkey)
    )
    title = f"{guideline.title} ({guideline.id}, {guideline.version})"
    return (
        "<View>\n"
        f"  <Header value={_attr(title)}/>\n"
        f'  <Text name="{TEXT_FIELD}" value="$text"/>\n'
        '  <HyperText name="context" value="$context_html"/>\n'
        f"{_media_view(guideline)}"
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


_BULLETS = ("•", "◦", "▪")
_INDENT = "\u00a0" * 4


def _markdown() -> MarkdownIt:
    """A CommonMark renderer (raw HTML escaped) with tables and strikethrough, shaped for
    Label Studio's instructions box: its sanitizer drops `style` attributes and its CSS
    hides list markers, so headings go one level down (the box has its own title),
    tables get `border`, and list items carry their marker and indent as text."""
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])

    def heading(self: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
        tokens[idx].tag = f"h{min(int(tokens[idx].tag[1]) + 1, 6)}"
        return str(self.renderToken(tokens, idx, options, env))

    def table_open(self: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
        for name, value in (("border", "1"), ("cellpadding", "4"), ("cellspacing", "0")):
            tokens[idx].attrSet(name, value)
        return str(self.renderToken(tokens, idx, options, env))

    def list_item_open(self: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
        token = tokens[idx]
        depth = max((token.level - 1) // 2, 0)
        if token.markup in (".", ")"):
            marker = f"{token.info}{token.markup}"
        else:
            marker = _BULLETS[min(depth, len(_BULLETS) - 1)]
        return str(self.renderToken(tokens, idx, options, env)) + f"{_INDENT * depth}{marker} "

    def link_open(self: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
        tokens[idx].attrSet("target", "_blank")
        tokens[idx].attrSet("rel", "noopener noreferrer")
        return str(self.renderToken(tokens, idx, options, env))

    md.add_render_rule("heading_open", heading)
    md.add_render_rule("heading_close", heading)
    md.add_render_rule("table_open", table_open)
    md.add_render_rule("list_item_open", list_item_open)
    md.add_render_rule("link_open", link_open)
    return md


def instructions_html(guideline: Guideline) -> str:
    """The guideline's markdown body as HTML (headings one level down, tables, nested
    lists, emphasis, code, links), after a line naming its id and version, and a list of
    the labels with their hotkeys and descriptions."""
    labels = "".join(
        f"<li><b>{label.hotkey} · {html.escape(label.title)}</b> "
        f"(<code>{html.escape(label.id)}</code>)"
        + (f": {html.escape(label.description)}" if label.description else "")
        + "</li>"
        for label in sorted(guideline.labels, key=lambda label: label.hotkey)
    )
    return (
        f"<p><i>Guideline {html.escape(guideline.id)}, version "
        f"{html.escape(guideline.version)}</i></p>\n"
        f"<p><b>Labels</b> (press the digit to pick one)</p>\n<ul>{labels}</ul>\n"
        + str(_markdown().render(guideline.body))
    )


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


def _context_html(item: Item, *, graphic: bool) -> str:
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
    if item.media:
        kinds = ", ".join(html.escape(str(m.get("kind", "media"))) for m in item.media)
        where = f"hidden until you tick {MEDIA_SHOWN}" if graphic else "shown below"
        rows.append(("Media", f"{len(item.media)} ({kinds}): {where}"))
    body = "".join(f"<tr><th align='left'>{k}</th><td>{v}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _media(item: Item) -> tuple[str, str]:
    """The item's first image URL (for the `Image` tag; `NO_IMAGE` if it has none) and
    its other media as links."""
    image = ""
    links: list[str] = []
    for media in item.media:
        url = str(media.get("url", ""))
        kind = str(media.get("kind", "media"))
        if kind == "image" and not image:
            image = url
        else:
            link = html.escape(url)
            links.append(
                f'<a href="{link}" target="_blank" rel="noopener">{html.escape(kind)}: {link}</a>'
            )
    return image or NO_IMAGE, "<br/>".join(links)


def task_for_item(item: Item, guideline: Guideline, batch: str) -> dict[str, Any]:
    """The Label Studio task for `item`: its data, its meta and the prediction."""
    assert item.id is not None
    image, media_html = _media(item)
    task: dict[str, Any] = {
        "data": {
            TEXT_FIELD: item.text or "",
            "context_html": _context_html(item, graphic=guideline.graphic),
            IMAGE_KEY: image,
            MEDIA_HTML_KEY: media_html,
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
