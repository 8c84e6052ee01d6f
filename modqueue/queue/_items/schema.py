"""The ingest format: validation of one item (reading JSON Lines is `lines`)."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

__all__ = [
    "MAX_TEXT_BYTES",
    "ItemIn",
    "item_from_line",
    "item_json_schema",
    "validation_reason",
]

MAX_TEXT_BYTES = 8 * 1024 * 1024
"""Longest accepted `text`, in UTF-8 bytes (8 MiB)."""

Slug = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")]
ShortStr = Annotated[str, Field(min_length=1, max_length=500)]
Url = Annotated[str, Field(min_length=1, max_length=4000, pattern=r"^https?://\S+$")]


_HEX64 = re.compile(r"^[0-9A-Fa-f]{64}$")
_BAD_ESCAPE = re.compile(rb"\\u(?:0000|[Dd][89A-Fa-f])")
"""In a line of JSON, the only ways to a NUL character or an unpaired surrogate (raw
ones are not valid JSON, or not valid UTF-8): a `\\u0000` or `\\uD800`-`\\uDFFF` escape."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=False)


class MediaIn(_Strict):
    """A media attachment: what kind it is and where it lives; a video may carry the
    platform's still `thumbnail_url` (shown on the review screen; nothing plays). Optionally
    the hashes the platform already computed: `sha256` (the file's digest) and `pdq` (Meta's
    PDQ perceptual hash of an image), each 64 hex digits (stored in lower case)."""

    kind: Annotated[str, Field(min_length=1, max_length=40)]
    url: Url
    thumbnail_url: Url | None = None
    sha256: str | None = None
    pdq: str | None = None

    @field_validator("sha256", "pdq", mode="before")
    @classmethod
    def _hex64(cls, value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, str) or not _HEX64.fullmatch(value):
            raise ValueError("expected 64 hex digits")
        return value.lower()


class AuthorIn(_Strict):
    """The account that posted the content."""

    id: ShortStr | None = None
    handle: ShortStr | None = None


class SignalIn(_Strict):
    """A detector's verdict: a classifier, a hash match, a keyword list."""

    name: Annotated[str, Field(min_length=1, max_length=200)]
    score: Annotated[float, Field(ge=0.0, le=1.0)]


class ReporterIn(_Strict):
    """Who reported it: personal data, shown to senior roles only, never exported."""

    model_config = ConfigDict(extra="allow")
    id: ShortStr | None = None
    contact: ShortStr | None = None


class ItemIn(_Strict):
    """One flagged item in the ingest format (one JSON object per line).

    `source` and `external_id` are required, with at least one of `text`, `url` and
    `media`; `(source, external_id)` is the item's identity. Unknown keys are ignored.
    """

    source: Slug
    external_id: ShortStr
    text: str | None = None
    url: Url | None = None
    media: list[MediaIn] = Field(default_factory=list, max_length=100)
    author: AuthorIn | None = None
    policy: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    signals: list[SignalIn] = Field(default_factory=list, max_length=100)
    report_count: Annotated[StrictInt, Field(ge=0)] = 0
    views: Annotated[StrictInt, Field(ge=0)] = 0
    reporter: ReporterIn | None = None
    flagged_at: AwareDatetime | None = None

    @model_validator(mode="after")
    def _check_content(self) -> ItemIn:
        if not (self.text or self.url or self.media):
            raise ValueError("needs at least one of text, url or media")
        if (
            self.text is not None
            and len(self.text.encode("utf-8", "surrogatepass")) > MAX_TEXT_BYTES
        ):
            size = len(self.text.encode("utf-8", "surrogatepass"))
            raise ValueError(f"text is {size:,} bytes, over the {MAX_TEXT_BYTES:,}-byte limit")
        return self


def _find_bad_chars(value: Any, path: str = "") -> str | None:
    if isinstance(value, str):
        if "\x00" in value:
            return f"{path or 'value'} contains a NUL character (\\u0000)"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return f"{path or 'value'} contains an unpaired surrogate (invalid UTF-16 escape)"
        return None
    if isinstance(value, dict):
        for key, inner in value.items():
            found = _find_bad_chars(key, path) or _find_bad_chars(
                inner, f"{path}.{key}" if path else str(key)
            )
            if found:
                return found
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            found = _find_bad_chars(inner, f"{path}[{i}]")
            if found:
                return found
    return None


def may_hold_bad_chars(line: bytes) -> bool:
    """False when the JSON text `line` (valid UTF-8) cannot decode to a string with a NUL
    character or an unpaired surrogate, so `validation_reason(..., line=line)` need not
    walk the decoded value looking for them."""
    return _BAD_ESCAPE.search(line) is not None


def validation_reason(raw: Any, *, line: bytes | None = None) -> tuple[ItemIn | None, str | None]:
    """Validate one decoded JSON value as an item: `(item, None)` or `(None, reason)`.

    `line`, the JSON text `raw` was decoded from, when known: a line without the escapes
    that make a NUL or an unpaired surrogate is not searched for them."""
    if not isinstance(raw, dict):
        return None, f"expected a JSON object, got {type(raw).__name__}"
    bad = _find_bad_chars(raw) if line is None or may_hold_bad_chars(line) else None
    if bad:
        return None, bad
    try:
        return ItemIn.model_validate(raw), None
    except ValidationError as exc:
        parts = []
        for err in exc.errors(include_url=False):
            where = ".".join(str(p) for p in err["loc"])
            msg = err["msg"].removeprefix("Value error, ")
            parts.append(f"{where}: {msg}" if where else msg)
        return None, "; ".join(parts)


def item_from_line(line: bytes) -> ItemIn | None:
    """The item of a JSON Lines line that is a valid item, validated straight from the
    JSON text in one pass (pydantic-core parses and validates it, without building the
    decoded value first); None when it is not one, or when it might decode to a string
    with a NUL or an unpaired surrogate. The item is the one `validation_reason` gives
    for `json.loads(line)`; for None, that general path says why (or accepts what the
    one-pass parser refuses, such as `NaN`)."""
    if may_hold_bad_chars(line):
        return None
    try:
        return ItemIn.model_validate_json(line)
    except ValueError:  # `ValidationError`, invalid JSON included
        return None


def item_json_schema() -> dict[str, Any]:
    """The JSON Schema of one ingest line."""
    schema = ItemIn.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "modqueue item"
    schema["description"] = (
        "One flagged item per line (JSON Lines). Required: source, external_id and at least "
        "one of text, url, media. (source, external_id) is the item's identity: ingesting it "
        "again merges signals and counts. Unknown keys are ignored."
    )
    schema["anyOf"] = [{"required": ["text"]}, {"required": ["url"]}, {"required": ["media"]}]
    return schema
