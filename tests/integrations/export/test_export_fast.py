"""The JSON Lines fast path writes exactly what the general path writes, on both backends:
the same split files byte for byte, the same dataset card, the same statistics.

The seeded database has second reviews, a senior decision, an overturned appeal, a
cluster, media (odd ones too), NaN and infinite seconds, masked emails and phones,
unicode and JSON-escaped text, texts without words, a purged item and several policies.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import bindparam, text, update
from sqlmodel import col

from modqueue.integrations.export import export_dataset, normalise_text
from modqueue.quality import QualityConfig
from modqueue.queue import Decision, Item, ReviewQueue, content_key
from tests.conftest import make_item
from tests.integrations.export.conftest import KEY, Seeded
from tests.support.clusters import seed_cluster

ODD_TEXTS = [
    'Ｆｕｌｌｗｉｄｔｈ ﬁne café naïve — «quotes» "double" back\\slash\ttab\nnewline end',  # noqa: RUF001 - fullwidth on purpose (NFKC)
    "control \x01 char, emoji 🚤 boat, line\u2028separator and ÉCOLE Straße",
    "see https://x.example/a?b=1 call 0044 20 7946 0958 or write to a.b@c.example now",
    "!!! ... ??? 12345",
    "Ελληνικά κείμενα για βάρκες και διαβατήρια προς πώληση σήμερα",  # noqa: RUF001 - Greek on purpose
    "mixed ünïcödé with phone +1 (555) 010-9999 and [EMAIL] literal brackets",
]
WORDS = [
    "harbour",
    "lorry",
    "tarpaulin",
    "ferry",
    "dinghy",
    "pickup",
    "voucher",
    "ledger",
    "convoy",
    "quay",
    "manifest",
    "lantern",
    "trawler",
    "ticket",
    "beacon",
    "cargo",
    "bridge",
    "tunnel",
    "station",
    "border",
]
MEDIA = [
    [{"kind": "image", "url": "https://cdn.example/a.jpg"}],
    [{"kind": "video", "url": "https://cdn.example/v.mp4", "thumbnail_url": "https://t.example/v"}],
    [
        {"kind": "video", "url": "https://cdn.example/b.mp4"},
        {"kind": "image", "url": "https://cdn.example/caf\u00e9"},
    ],
]
POLICIES = ["people-smuggling", "hate", "triage"]
LABELS = {
    "people-smuggling": ["remove-fake-documents", "news-or-safety-warning"],
    "hate": ["remove-hate"],
    "triage": ["no-violation", "spam"],
}


def _items() -> list[dict[str, Any]]:
    rng = random.Random(17)
    items = []
    for n in range(10, 70):
        words = rng.sample(WORDS, 7)
        body = ODD_TEXTS[n // 4 % len(ODD_TEXTS)] if n % 4 == 0 else " ".join(words)
        extra: dict[str, Any] = {"text": body, "policy": POLICIES[n % 3]}
        if n % 5 == 0:
            extra["media"] = MEDIA[n % len(MEDIA)]
        if n % 7 == 0:
            extra["url"] = f"https://platform.example/p/{n}?ref=x#frag"
        if n % 3 != 2:
            extra["author"] = {"id": f"acct-{n % 4}", "handle": f"@h{n % 4}"}
        items.append(make_item(n, **extra))
    return items


def _decide_more(seeded: Seeded) -> None:
    with (
        ReviewQueue(seeded.url, clock=seeded.clock) as q,
        ReviewQueue(
            seeded.url, clock=seeded.clock, quality=QualityConfig(second_review_share=1.0)
        ) as sampled,
    ):
        q.enqueue(_items())
        with q.read_session() as s:
            ids = dict(s.execute(text("SELECT external_id, id FROM item")).all())
        cluster = seed_cluster(q, [ids["post-12"], ids["post-15"], ids["post-18"]])
        q.decide_cluster(cluster, "Carla Cluster", "remove-fake-documents")
        for n in range(10, 70):
            if n in (12, 15, 18) or n % 9 == 0:
                continue  # the cluster's, or left undecided
            item_id = ids[f"post-{n}"]
            policy = POLICIES[n % 3]
            labels = LABELS[policy]
            label = labels[n % len(labels)]
            seeded.clock.advance(seconds=n)
            got = q.claim(item_id, "Dana Decider")
            (sampled if n % 6 == 0 else q).decide(got, label)
            if n % 6 == 0:  # agreeing second review, or a disagreement a senior settles
                got = q.claim(item_id, "Eve Second")
                q.decide(got, label if n % 12 == 0 else labels[(n + 1) % len(labels)])
                if n % 12:
                    got = q.claim(item_id, "Sam Senior")
                    q.decide(got, label)
        postgres = q.engine.dialect.name == "postgresql"
        with q.session() as s:
            rows = s.execute(text("SELECT id FROM decision ORDER BY id")).scalars().all()
            odd = {rows[1]: float("inf"), rows[4]: float("-inf"), rows[7]: 1e-7}
            if postgres:
                odd[rows[2]] = float("nan")  # SQLite stores NaN as NULL
            for decision_id, seconds in odd.items():
                s.execute(
                    text("UPDATE decision SET seconds_spent = :v WHERE id = :id"),
                    {"v": seconds, "id": decision_id},
                )
            # Media as an older version stored it: no URL, an extra key.
            s.execute(
                update(Item)
                .where(col(Item.id) == ids["post-25"])
                .values(media=[{"kind": "video"}, {"url": "https://cdn.example/x", "n": 1}])
            )
            # Content retention purged one decided item (as `purge_item_fields` does).
            s.execute(
                update(Item)
                .where(col(Item.id) == ids["post-20"])
                .values(text=None, url=None, media=[], author_id=None, author_handle=None)
            )


def _files(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


@pytest.mark.parametrize(
    "filters",
    [{}, {"policy": "hate"}, {"policy": "triage"}, {"policy": "people-smuggling"}],
    ids=["all", "hate", "triage", "smuggling"],
)
def test_fast_path_writes_the_general_paths_bytes(
    seeded: Seeded, tmp_path: Path, filters: dict[str, Any]
) -> None:
    _decide_more(seeded)
    with ReviewQueue(seeded.url, clock=seeded.clock) as q:
        now = seeded.clock()
        general = export_dataset(
            q.engine, out=tmp_path / "general", now=now, fast=False, batch=7, **filters
        )
        fast = export_dataset(q.engine, out=tmp_path / "fast", now=now, batch=7, **filters)
        since = export_dataset(
            q.engine, out=tmp_path / "since", now=now, since=seeded.clock(), **filters
        )
    assert general.records > 0 or filters
    assert fast.stats == general.stats
    assert _files(tmp_path / "fast") == _files(tmp_path / "general")
    assert since.records == 0
    if not filters:
        body = b"".join(_files(tmp_path / "fast").values())
        for needle in (b"NaN", b"Infinity", b"-Infinity", b"1e-07", b"[EMAIL]", b"[PHONE]"):
            if needle != b"NaN" or "postgresql" in seeded.url:
                assert needle in body
        assert "🚤".encode() in body and b"\\u0001" in body and b'\\"double\\"' in body


def test_since_window_is_the_same_on_both_paths(seeded: Seeded, tmp_path: Path) -> None:
    middle = seeded.clock()
    _decide_more(seeded)
    with ReviewQueue(seeded.url, clock=seeded.clock) as q:
        now = seeded.clock()
        general = export_dataset(
            q.engine, out=tmp_path / "general", now=now, since=middle, fast=False
        )
        fast = export_dataset(q.engine, out=tmp_path / "fast", now=now, since=middle)
    assert 0 < fast.records == general.records
    assert _files(tmp_path / "fast") == _files(tmp_path / "general")


CONTROLS = "".join(chr(c) for c in range(1, 32)) + "\x7f"
"""Every control character PostgreSQL's text can hold (`to_json` escapes those < 0x20)."""
ODD_VALUES = [
    f"controls {CONTROLS} end",
    'back\\slash \\N \\\\ \\t "quoted" tab\there new\nline cr\rend',
    "non-ASCII é ß 😀 🚤 \u2028 \u2029 \ufeff \u00a0 \U0010fffd end",
    "mail a.b@c.example\x01 and phone 0044 20 7946 0958\n\\ after an escape",
    "",
    "\\N",  # COPY's null marker as a whole value (an author id spelled so stays an id)
]


def test_odd_values_the_server_encodes_are_the_general_paths_bytes(
    seeded: Seeded, tmp_path: Path
) -> None:
    """Texts, URLs, authors, reviewers, labels and guideline versions with every control
    character, backslashes (and COPY's own `\\N`), quotes, tabs and newlines, non-ASCII
    and emoji; decision times with and without microseconds; an item whose `decided_at`
    is null: the fast path (whose PostgreSQL server writes them as JSON) writes the
    general path's bytes and statistics."""
    _decide_more(seeded)
    with ReviewQueue(seeded.url, clock=seeded.clock) as q:
        with q.session() as s:
            decided = (
                s.execute(text("SELECT id FROM item WHERE final_label IS NOT NULL ORDER BY id"))
                .scalars()
                .all()
            )
            decisions = (
                s.execute(
                    text("SELECT id FROM decision WHERE item_id IN :ids ORDER BY id").bindparams(
                        bindparam("ids", expanding=True)
                    ),
                    {"ids": list(decided)},
                )
                .scalars()
                .all()
            )
            for n, item_id in enumerate(decided[: len(ODD_VALUES)]):
                odd = ODD_VALUES[n]
                s.execute(
                    update(Item)
                    .where(col(Item.id) == item_id)
                    .values(text=odd or None, url=f"https://x.example/{odd}", author_id=odd)
                )
            s.execute(update(Item).where(col(Item.id) == decided[-1]).values(decided_at=None))
            base = seeded.clock().replace(microsecond=0)
            for n, decision_id in enumerate(decisions[:8]):
                values: dict[str, Any] = {
                    "decided_at": base.replace(microsecond=(0, 1, 500_000, 999_999)[n % 4])
                }
                if n < len(ODD_VALUES):
                    odd = ODD_VALUES[n]
                    values |= {"reviewer": odd, "guideline_version": odd[:80], "origin": odd[:40]}
                s.execute(update(Decision).where(col(Decision.id) == decision_id).values(**values))
            odd_label = ODD_VALUES[1][:100]
            s.execute(
                update(Decision).where(col(Decision.item_id) == decided[1]).values(label=odd_label)
            )
            s.execute(update(Item).where(col(Item.id) == decided[1]).values(final_label=odd_label))
        now = seeded.clock()
        general = export_dataset(q.engine, out=tmp_path / "general", now=now, fast=False)
        fast = export_dataset(q.engine, out=tmp_path / "fast", now=now)
    assert fast.stats == general.stats
    assert _files(tmp_path / "fast") == _files(tmp_path / "general")
    body = b"".join(_files(tmp_path / "fast").values())
    for needle in ("\\u0001", "\\u001f", "\\\\N", "🚤", "\u2028", ".500000+00:00", ".000001+00:00"):
        assert needle.encode() in body, needle


def _reference_words(raw: str, masked: bool) -> list[str]:
    """`normalise_text` as it was written before it was made faster (issue 17)."""
    import re
    import unicodedata

    from modqueue.queue._items.content import _STOP, _URL, EMAIL, mask_pii

    text_ = raw
    if not masked and "@" in text_:
        text_ = EMAIL.sub("[EMAIL]", text_)
    text_ = unicodedata.normalize("NFKC", text_).casefold()
    if "http" in text_ or "www." in text_:
        if not masked:
            text_ = unicodedata.normalize("NFKC", mask_pii(raw)).casefold()
        text_ = _URL.sub(" ", text_)
    text_ = text_.replace("[email]", " ").replace("[phone]", " ")
    return [w for w in re.findall(r"[^\W\d_]+", text_) if w not in _STOP]


def test_faster_normalisation_and_key_match_the_reference() -> None:
    import zlib
    from itertools import pairwise

    rng = random.Random(5)
    alphabet = "abcXYZ éßﬁＡ😀 .,!?@[]-+()0123456789\t\nhttp://www."
    texts = [*ODD_TEXTS, "The the THE and", "solo", "", "Call [PHONE] or [EMAIL] now, ok?"]
    texts += ["Visit HTTP://X.Y/z now please", "WWW.example.com is it", "x@y.example hi there"]
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 60))) for _ in range(400)]
    texts += [
        " ".join(rng.choice([*WORDS, "the", "a", "it"]) for _ in range(8)) for _ in range(200)
    ]
    for raw in texts:
        for masked in (False, True):
            words = _reference_words(raw, masked)
            assert normalise_text(raw, masked=masked) == words, raw
            key = content_key(
                text=raw, url=None, media=None, source="s", external_id="e", masked=masked
            )
            expected = "id:s\0e"
            if words:
                shingles = [f"{a} {b}" for a, b in pairwise(words)] or words
                best = min(shingles, key=lambda s: (zlib.crc32(s.encode()), s))
                expected = f"text:{best}"
            assert key == expected, raw


def test_pseudonyms_are_hmac_sha256_for_any_key_length() -> None:
    import hashlib
    import hmac

    from modqueue.integrations.export import Pseudonymiser

    for key in (b"k" * 16, b"k" * 64, b"k" * 65, bytes(range(256)), KEY.encode()):
        names = Pseudonymiser(key)
        for value in ("Alice Smith", "Ünïcödé", ""):
            reviewer = hmac.new(key, f"reviewer\0{value}".encode(), hashlib.sha256)
            author = hmac.new(key, f"author\0src\0{value}".encode(), hashlib.sha256)
            assert names.annotator(value) == f"annotator-{reviewer.hexdigest()[:20]}"
            assert names.author("src", value) == f"author-{author.hexdigest()[:20]}"
    assert "k" * 16 not in repr(Pseudonymiser(b"k" * 16))


def test_worker_processes_write_the_general_paths_bytes(
    seeded: Seeded, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The export in worker processes (PostgreSQL; chunks of 7 item ids, so records are
    held back across chunks and every chunk has a few items) writes what one process
    writes; SQLite exports in one process."""
    from modqueue.integrations.export import _parallel, _writers

    middle = seeded.clock()
    _decide_more(seeded)
    used: list[int] = []
    parallel = _parallel.write_jsonl_parallel

    def counted(*args: Any, **kwargs: Any) -> None:
        used.append(len(args[4]))
        parallel(*args, **kwargs)

    monkeypatch.setattr(_parallel, "write_jsonl_parallel", counted)
    monkeypatch.setattr(_parallel, "CHUNK_IDS", 7)
    with ReviewQueue(seeded.url, clock=seeded.clock) as q:
        now = seeded.clock()
        windows: list[dict[str, Any]] = [{}, {"policy": "hate"}, {"since": middle}, {}]
        for n, filters in enumerate(windows):
            if n == 3:  # records held back at most 2 per split: chunks past the limit
                monkeypatch.setattr(_writers, "HOLD", 2)
            general = export_dataset(
                q.engine, out=tmp_path / f"general{n}", now=now, fast=False, **filters
            )
            fast = export_dataset(
                q.engine, out=tmp_path / f"fast{n}", now=now, workers=2, **filters
            )
            assert general.records > 0
            assert fast.stats == general.stats
            assert _files(tmp_path / f"fast{n}") == _files(tmp_path / f"general{n}")
    assert used == ([used[0]] * 4 if "postgresql" in seeded.url else [])
    assert not used or used[0] >= 9
