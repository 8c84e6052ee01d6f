"""Text signatures computed a batch at once are exactly datasketch's MinHash of the
shingles (the stored and bank-exported format), however the batch is made up."""

from __future__ import annotations

import random
import unicodedata
from typing import Any

import numpy as np
from datasketch import MinHash

from modqueue.queue._items import fingerprints
from modqueue.queue._items.content import mask_pii, normalise_text
from modqueue.queue._items.fingerprints import (
    NUM_PERM,
    SEED,
    SHINGLE,
    band_keys,
    fingerprints_many,
    fingerprints_of,
    signature_hex,
    text_signature,
    text_signatures,
)
from modqueue.queue._items.splits import content_split_and_words, content_split_of

TEXTS: list[str | None] = [
    "Boat to UK this Friday, pay on arrival, £3200 per person, call +44 7693 570382.",
    "boat to uk this friday - PAY ON ARRIVAL - 1500 per person 🚤 call +44 7111 222333",
    "Plant sitter wanted Monday, cash 200 a week, no questions, text me",
    "",
    None,
    "42 !!! ...",
    "wow",
    "a b",
    "Ünïcödé wörds, ﬁne ligatures and \uff26\uff35\uff2c\uff2c letters",
    "see https://example.org/x?y=1 or mail me at someone@example.org",
    "x" * 3000,
    "Boat to UK this Friday, pay on arrival, £3200 per person, call +44 7693 570382.",
]


def _datasketch(text: str | None) -> np.ndarray[Any, np.dtype[np.uint32]] | None:
    """The reference: datasketch's MinHash of the text's shingle hashes, one by one."""
    words = normalise_text(text) if text else []
    if not words:
        return None
    data = " ".join(words).encode().ljust(SHINGLE, b"\0")
    codes = {
        int.from_bytes(data[i : i + SHINGLE], "little") for i in range(len(data) - SHINGLE + 1)
    }
    minhash = MinHash(num_perm=NUM_PERM, seed=SEED, scheme="affine32", hashfunc=int)
    minhash.update_batch([(c * 0x9E3779B97F4A7C15 % 2**64) >> 32 for c in sorted(codes)])
    return np.asarray(minhash.hashvalues, dtype=np.uint32)


def test_batch_signatures_are_datasketch_minhashes() -> None:
    fingerprints._RECENT.clear()
    together = text_signatures(TEXTS)
    for text, signed in zip(TEXTS, together, strict=True):
        expected = _datasketch(text)
        if expected is None:
            assert signed is None
            continue
        assert signed is not None
        assert np.array_equal(signed[0], expected)
        assert signed[1] == len(normalise_text(text or ""))
        alone = text_signature(text)  # from the recent-signature cache now
        assert alone is not None and np.array_equal(alone[0], expected)


def test_a_batch_larger_than_one_block_gives_the_same_signatures() -> None:
    fingerprints._RECENT.clear()
    texts = [f"word{i % 7} " * 50 + "tail " * (i % 13) + chr(0x4E00 + i) for i in range(400)]
    together = text_signatures(texts)
    fingerprints._RECENT.clear()
    for text, signed in zip(texts, together, strict=True):
        alone = text_signature(text)
        assert signed is not None and alone is not None
        assert np.array_equal(signed[0], alone[0])


def test_fingerprints_many_matches_one_by_one() -> None:
    media = [{"kind": "image", "sha256": "a" * 64, "pdq": "f" * 64}]
    contents = [(text, media if i % 2 else []) for i, text in enumerate(TEXTS)]
    many = fingerprints_many(contents)
    for (text, entries), found in zip(contents, many, strict=True):
        alone = fingerprints_of(text, entries)
        assert found.rows() == alone.rows()
        assert found.query_keys() == alone.query_keys()
        assert found.stored_keys() == alone.stored_keys()
        if found.signature is not None:
            assert found.bands() == band_keys(found.signature)
            assert found.rows()[0][1].endswith(signature_hex(found.signature))
    # Asking for keys never changes the item's bands.
    first = many[0]
    assert first.query_keys() == first.query_keys()
    assert len(first.bands()) == fingerprints.BANDS


def _findall_words(raw: str) -> list[str]:
    """`normalise_text`'s words the general way: every letter run `_LETTERS` finds."""
    from modqueue.queue._items.content import _LETTERS, _STOP, _URL, EMAIL, mask_pii

    text = EMAIL.sub("[EMAIL]", raw) if "@" in raw else raw
    text = unicodedata.normalize("NFKC", text).casefold()
    if "http" in text or "www." in text:
        text = _URL.sub(" ", unicodedata.normalize("NFKC", mask_pii(raw)).casefold())
    text = text.replace("[email]", " ").replace("[phone]", " ")
    return [w for w in _LETTERS.findall(text) if w not in _STOP]


def test_texts_whose_only_non_ascii_characters_are_no_letters_keep_their_words() -> None:
    """Emoji, symbols, digits and marks beyond ASCII cut words as `_LETTERS` does
    (the ASCII path), while any letter beyond ASCII (or one NFKC turns into ASCII
    letters) keeps the text on the general path: the words are the same either way."""
    rng = random.Random(7)
    beyond = [
        "🚤", "🇬🇧", "‼️", "💯", "·", "—", "«", "€", "²", "½", "\u0661", "Ⅻ", "\u0301", "\u200b",
        "\u2028", "é", "ß", "ﬁ", "\uff21", "中", "ǅ", "İ", "ⓐ", "µ", "Ω", "\ud800",
    ]  # fmt: skip
    alphabet = [*"abcXYZ _-.,!?1234567890@:/[]", *beyond]
    texts = ["Boat 🚤 to UK‼️ call 📞 +44 7693 570382 💯", "café 🔥 naïve", "x²y ½ Ⅻ", "🔥"]
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 30))) for _ in range(5000)]
    for text in texts:
        assert normalise_text(text) == _findall_words(text), repr(text)


def test_many_random_texts_sign_as_datasketch_does() -> None:
    """Batches of random texts (ASCII, emoji, other scripts, lengths from one word to a
    few hundred) give exactly datasketch's signatures."""
    rng = random.Random(11)
    words = ["boat", "uk", "friday", "pay", "arrival", "🚤", "naïve", "中文", "x", "ок", "👍🏽"]
    texts: list[str | None] = [
        " ".join(rng.choice(words) for _ in range(rng.randint(1, 300))) for _ in range(300)
    ]
    fingerprints._RECENT.clear()
    for start in range(0, len(texts), 97):
        batch = texts[start : start + 97]
        for text, signed in zip(batch, text_signatures(batch), strict=True):
            expected = _datasketch(text)
            assert signed is not None and expected is not None
            assert np.array_equal(signed[0], expected), text


def test_words_ingest_computed_for_the_split_are_the_texts_own() -> None:
    """Ingest hands fingerprinting the words its content split normalised from the
    masked text (`content_split_and_words`): they are `normalise_text` of the text
    itself, emails and phone numbers included, and the signatures made from them are the
    same."""
    rng = random.Random(3)
    pieces = [
        *"abcXYZ _-.,!?()+1234567890@:/[]",
        *("🚤", "é", "中", "ß", "\uff21", "\uff11", "\u0661", "\u0301", "½", "ǅ", "İ"),
        *(" +44 7693 570382", "(020) 7946-0958", "0044.20.7946.0958", "a.b@example.org"),
        *(
            "x@y.co",
            "http://e.org/p?q=1 ",
            "www.e.org",
            "[phone]",
            "[EMAIL]",
            "\uff48\uff54\uff54\uff50://e.org",
        ),
    ]
    texts: list[str | None] = [
        *TEXTS,
        "mail a.b@example.org 🚤 now",
        "call +44 7693 570382 🚤",
        "Ünïcödé 🚤",
        *("".join(rng.choice(pieces) for _ in range(rng.randint(1, 30))) for _ in range(20000)),
    ]
    known: list[list[str] | None] = []
    for text in texts:
        split, words = content_split_and_words(
            text=text, url=None, media=[], source="s", external_id="x"
        )
        assert split == content_split_of(text=text, url=None, media=[], source="s", external_id="x")
        if words is not None:
            assert text and words == normalise_text(text), repr(text)
        known.append(words)
    masked = [
        t for t, w in zip(texts, known, strict=True) if w is not None and t and mask_pii(t) != t
    ]
    assert len(masked) > 1000
    assert known[len(TEXTS)] == ["mail", "now"] and known[len(TEXTS) + 1] == ["call"]
    contents: list[tuple[str | None, list[dict[str, Any]]]] = [(text, []) for text in texts]
    fingerprints._RECENT.clear()
    given = fingerprints_many(contents, known_words=known)
    fingerprints._RECENT.clear()
    for found, plain in zip(given, fingerprints_many(contents), strict=True):
        assert found.rows() == plain.rows()
