"""Untrusted text, shown literally: no markup, no escape sequences, no control characters.

Item text comes from strangers. It is never parsed as Rich or Textual markup (it becomes a
`rich.text.Text` built from the plain string), and every character that could move the
cursor, change colours, reorder the line or break the encoding is replaced by a visible
escape such as `\\x1b` or `\\u202e`.
"""

from __future__ import annotations

import re

from rich.text import Text

__all__ = ["literal", "literal_block", "sanitize"]

# C0 controls but tab and newline, DEL, C1 controls, line/paragraph separators, bidi
# embeddings/overrides/isolates, interlinear annotations and lone surrogates.
_UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufff9-\ufffb\ud800-\udfff]"
)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def sanitize(value: str) -> str:
    """`value` with every unsafe character replaced by a visible escape, tabs as spaces."""
    return _UNSAFE.sub(_escape, value.replace("\t", "    "))


def literal(value: object, style: str = "") -> Text:
    """A one-line `Text` of untrusted `value` (newlines shown as `\\n`)."""
    raw = "" if value is None else str(value)
    return Text(sanitize(raw).replace("\n", "\\n"), style=style, no_wrap=False)


def literal_block(value: str | None, *, max_chars: int, max_lines: int = 400) -> Text:
    """A multi-line `Text` of untrusted `value`, cut at `max_chars` characters or
    `max_lines` lines with a note saying how much is not shown. Only the shown part is
    scanned, so megabytes of text cost no more than the limit."""
    raw = value or ""
    shown = raw[:max_chars]
    lines = shown.split("\n", max_lines)
    if len(lines) > max_lines:
        shown = "\n".join(lines[:max_lines])
    text = Text(sanitize(shown))
    if len(shown) < len(raw):
        text.append(
            f"\n… showing {len(shown):,} of {len(raw):,} characters",
            style="italic",
        )
    return text
