"""What an item says, made comparable: emails and phone numbers masked (`mask_pii`), text
normalised (`normalise_text`), and deterministic train/validation/test splits that keep
near-duplicates together (`split_for`); the export, the model loop and clustering share it.


An item's split depends only on its own content, so it never changes as more data
arrives. The content key is a MinHash: the text is normalised (lower case, emails,
phone numbers, URLs, digits and punctuation dropped, a few stop words removed), cut
into word bigrams, and the bigram with the smallest CRC-32 becomes the key.
Texts that differ only in case, punctuation, numbers, links or contact details get the
same key; two texts share a key with probability equal to the Jaccard similarity of
their bigram sets (a one-word edit of a 20-word post: about 0.8). The key's SHA-256
then picks the split: 80% train, 10% validation, 10% test. Items without text use
their normalised URL, else their first media URL, else their identity. An item in a
cluster (`cluster_id`, given by the export) is keyed by its cluster instead, so a cluster
never spans two splits; its split then stays as long as the item stays in the cluster.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import zlib
from collections.abc import Sequence
from itertools import filterfalse, pairwise
from typing import Any, NotRequired, TypedDict, Unpack

from sqlmodel import col

from modqueue.queue._core.models import Item

__all__ = [
    "CONTENT_COLUMNS",
    "SPLITS",
    "ItemContent",
    "content_key",
    "content_key_and_words",
    "mask_pii",
    "normalise_text",
    "split_for",
    "split_of_key",
]

EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
)
PHONE = re.compile(r"(?<![\w+])(?:\+|00)?\(?\d[\d ().-]{6,}\d(?!\w)")


_DIGITS = b"0123456789"


def _digits(text: str) -> int:
    # ASCII digits are the same bytes in UTF-8 and no other character's bytes include
    # them: `bytes.translate` deletes them in one C pass (`str.translate` would look
    # up every character in a dict).
    data = text.encode("utf-8", "surrogatepass")
    return len(data) - len(data.translate(None, _DIGITS))


def _phone(match: re.Match[str]) -> str:
    return "[PHONE]" if 9 <= _digits(match.group(0)) <= 15 else match.group(0)


def mask_pii(text: str) -> str:
    """`text` with email addresses replaced by `[EMAIL]` and phone numbers (9 to 15
    digits, optionally `+`/`00`-prefixed, with spaces, dots, dashes or brackets) by
    `[PHONE]`."""
    if "@" in text:
        text = EMAIL.sub("[EMAIL]", text)
    if _digits(text) >= 9:
        text = PHONE.sub(_phone, text)
    return text


SPLITS = ("train", "validation", "test")
TRAIN_SHARE = 0.8
VALIDATION_SHARE = 0.1
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_LETTERS = re.compile(r"[^\W\d_]+")
_NON_ASCII_LETTER = re.compile(r"[^\W\d_\x00-\x7f]")
"""A character `_LETTERS` takes that is not ASCII."""
_STOP = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "for",
        "from",
        "has",
        "have",
        "i",
        "in",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "our",
        "so",
        "that",
        "the",
        "their",
        "this",
        "to",
        "was",
        "we",
        "were",
        "will",
        "with",
        "you",
        "your",
    ]
)
_SCALE = float(2**64)
_ASCII_LETTERS = bytes(b if 97 <= b <= 122 else 32 for b in range(256))


def normalise_text(text: str, *, masked: bool = False) -> list[str]:
    """The words of `text` that identify it, in order (see the module docstring);
    `masked=True` when `mask_pii` was already applied."""
    # Phone numbers need no masking here: a number is digits, spaces and `+().-`
    # between non-word characters, and no letters, so it leaves no words either way.
    # Only a URL can tell the two apart (`[PHONE]` has no spaces, so a URL ending at one
    # may run on), so texts with one are masked in full (the costly regular expression).
    # Every step runs in C (the export computes this for every record): NFKC leaves
    # ASCII text as it is, and the stop words are dropped by `filterfalse`.
    raw = text
    if not masked and "@" in text:
        text = EMAIL.sub("[EMAIL]", text)
    ascii_only = text.isascii()
    text = (text if ascii_only else unicodedata.normalize("NFKC", text)).casefold()
    if "http" in text or "www." in text:
        if not masked:
            text = unicodedata.normalize("NFKC", mask_pii(raw)).casefold()
            ascii_only = text.isascii()
        text = _URL.sub(" ", text)
    if "[" in text:
        text = text.replace("[email]", " ").replace("[phone]", " ")
    if ascii_only or not _NON_ASCII_LETTER.search(text):
        # In ASCII the letters `_LETTERS` finds are a-z (after casefold): everything
        # else becomes a space in one `bytes.translate`, and `split` cuts the words.
        # A text whose only characters beyond ASCII are no letters (emoji, symbols)
        # has the same words: each of those characters becomes `?`, then a space.
        words = text.encode("ascii", "replace").translate(_ASCII_LETTERS).decode().split()
    else:
        words = _LETTERS.findall(text)
    return list(filterfalse(_STOP.__contains__, words))


def _min_hash(shingles: Sequence[str]) -> str:
    # CRC-32 only ranks the shingles (fast, the same on every machine); the split itself
    # comes from SHA-256 of the chosen shingle. Ties on the CRC go to the smaller
    # shingle: the smallest `(crc, shingle)` pair, compared in C.
    return min(zip(map(zlib.crc32, map(str.encode, shingles)), shingles, strict=False))[1]


_STOP_BYTES = frozenset(w.encode() for w in _STOP)


def _ascii_min_shingle(text: str, masked: bool) -> str | None:
    """`_min_hash` of `normalise_text`'s bigrams for plain ASCII text, in bytes: `""`
    when it has no words, None when the text needs the general path (not ASCII, a link,
    or unmasked `@`). ASCII casefolds as `bytes.lower` does and orders as its bytes."""
    if not text.isascii() or (not masked and "@" in text):
        return None
    data = text.encode().lower()
    if b"http" in data or b"www." in data:
        return None
    if b"[" in data:
        data = data.replace(b"[email]", b" ").replace(b"[phone]", b" ")
    words = list(filterfalse(_STOP_BYTES.__contains__, data.translate(_ASCII_LETTERS).split()))
    if not words:
        return ""
    shingles = list(map(b" ".join, pairwise(words))) or words
    return min(zip(map(zlib.crc32, shingles), shingles, strict=False))[1].decode()


def content_key(
    *,
    text: str | None,
    url: str | None,
    media: list[dict[str, Any]] | None,
    source: str,
    external_id: str,
    masked: bool = False,
    cluster_id: int | None = None,
) -> str:
    """The near-duplicate key of an item's content (`masked`: `text` is already
    `mask_pii`-ed). An item in a cluster is keyed by its cluster, so every copy the
    clustering found lands in one split even where its text differs more than the
    shingle key can tell."""
    return content_key_and_words(
        text=text,
        url=url,
        media=media,
        source=source,
        external_id=external_id,
        masked=masked,
        cluster_id=cluster_id,
    )[0]


def content_key_and_words(
    *,
    text: str | None,
    url: str | None,
    media: list[dict[str, Any]] | None,
    source: str,
    external_id: str,
    masked: bool = False,
    cluster_id: int | None = None,
) -> tuple[str, list[str] | None]:
    """`content_key`, and `normalise_text(text, masked=masked)` when the key was found
    with it (None otherwise: plain ASCII text takes a path of its own), so a caller
    needing both computes the words once."""
    if cluster_id is not None:
        return f"cluster:{cluster_id}", None
    words: list[str] | None = None
    if text:
        best = _ascii_min_shingle(text, masked)
        if best is None:
            words = normalise_text(text, masked=masked)
            if words:
                best = _min_hash(list(map(" ".join, pairwise(words))) or words)
        if best:
            return f"text:{best}", words
    if url:
        return f"url:{url.split('#', 1)[0].split('?', 1)[0].rstrip('/').casefold()}", words
    for m in media or []:
        if m.get("url"):
            return f"media:{m['url']}", words
    return f"id:{source}\0{external_id}", words


def split_of_key(key: str) -> str:
    """The split a content key belongs to."""
    digest = hashlib.sha256(f"split\0{key}".encode()).digest()
    fraction = int.from_bytes(digest[:8], "big") / _SCALE
    if fraction < TRAIN_SHARE:
        return "train"
    if fraction < TRAIN_SHARE + VALIDATION_SHARE:
        return "validation"
    return "test"


CONTENT_COLUMNS: tuple[Any, ...] = (
    col(Item.id),
    col(Item.source),
    col(Item.external_id),
    col(Item.text),
    col(Item.url),
    col(Item.media),
)
"""An item's id, then the columns its `ItemContent` (and so its split) is read from."""


class ItemContent(TypedDict):
    """What `content_key` reads of an item (`masked`: `text` is already `mask_pii`-ed)."""

    text: str | None
    url: str | None
    media: list[dict[str, Any]] | None
    source: str
    external_id: str
    masked: NotRequired[bool]
    cluster_id: NotRequired[int | None]


def split_for(**content: Unpack[ItemContent]) -> str:
    """The split of an item (train, validation or test), from its `ItemContent`."""
    return split_of_key(content_key(**content))
