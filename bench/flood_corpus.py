"""A flood corpus with ground truth: N items that are copies of K originals.

Originals are synthetic posts (a harm-area template sentence plus 18-30 words drawn
from the bundled guidelines' own vocabulary, so originals differ from one another);
about `image_share` of them carry a generated image (Pillow shapes, lines and noise on
a gradient, 256x256). Copy counts per original follow a Zipf-like law (a few originals
flood, most have a handful of copies, some are singletons).

Each copy gets realistic edits:
- text: another price, date and phone number, emoji, changed spacing, case and
  punctuation, and in about a third of copies one swap of two neighbouring words or one
  word repeated; about 5% of copies of an image original keep only the image with a
  different short caption;
- image: re-encoded as JPEG (quality 60-95), resized (75-100%), cropped by up to 1%.
  Each image original has 6 variants; copies pick one. Hashes (SHA-256 of the bytes and
  PDQ) are computed here as a platform would send them.

    from bench.flood_corpus import generate
    items, truth = generate(n=100_000, k=5_000, seed=1)   # truth: external_id -> original
"""

from __future__ import annotations

import io
import pickle
import random
import re
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from modqueue.guidelines import bundled_guidelines_dir
from modqueue.queue import hash_image

__all__ = ["cached", "generate"]

_TEMPLATES = {
    "people-smuggling": "Boat to UK this {day}, pay on arrival, {price} per person, call {phone}.",
    "drug-supply": "Plant sitter wanted {day}, cash {price} a week, no questions, text {phone}.",
    "doxxing": "WANTED: who knows this man? {price} for his address, seen {day}, DM {phone}.",
    "violent-threats": "You have until {day} to pay back {price} or else, we know where you live.",
    "hate": "Join us on {day}, entry {price}, bring banners, contact {phone}.",
    "image-abuse": "Pay {price} by {day} or these photos go to your family, contact {phone}.",
}
_EMOJI = ["🚤", "💯", "🔥", "✅", "📞", "💰", "🇬🇧", "‼️", "👇"]
_DAYS = ["Monday", "Tuesday", "Friday", "Saturday", "Sunday", "tonight", "this week"]
_CAPTIONS = ["look at this", "share this", "seen this?", "wow", "repost", "for real"]


def _vocabulary() -> list[str]:
    words: set[str] = set()
    for path in sorted(Path(bundled_guidelines_dir()).glob("*.md")):
        words.update(w.lower() for w in re.findall(r"[A-Za-z]{4,}", path.read_text("utf-8")))
    return sorted(words)


def _phone(rng: random.Random) -> str:
    return f"+44 7{rng.randint(100, 999)} {rng.randint(100000, 999999)}"


def _price(rng: random.Random) -> str:
    return rng.choice(["£", "€", "$", ""]) + str(rng.randint(2, 60) * 100)


def _original_text(rng: random.Random, policy: str, vocab: list[str]) -> str:
    body = " ".join(rng.choice(vocab) for _ in range(rng.randint(18, 30)))
    return _TEMPLATES[policy] + " " + body.capitalize() + "."


def _copy_text(rng: random.Random, template: str) -> str:
    text = template.format(day=rng.choice(_DAYS), price=_price(rng), phone=_phone(rng))
    words = text.split(" ")
    roll = rng.random()
    if roll < 0.2 and len(words) > 12:
        i = rng.randrange(8, len(words) - 2)
        words[i], words[i + 1] = words[i + 1], words[i]
    elif roll < 0.33 and len(words) > 12:
        i = rng.randrange(8, len(words) - 1)
        words.insert(i, words[i])
    if rng.random() < 0.5:
        words.insert(rng.randrange(len(words)), rng.choice(_EMOJI))
    text = (" " if rng.random() < 0.6 else "  ").join(words)
    if rng.random() < 0.3:
        text = text.lower()
    elif rng.random() < 0.1:
        text = text.upper()
    if rng.random() < 0.4:
        text = text.replace(",", rng.choice(["", " ,", "!!", " -"]))
    return text + rng.choice(["", "", "!!", " 👇", " DM now"])


def _original_image(rng: random.Random) -> Image.Image:
    size = 256
    top = tuple(rng.randint(0, 255) for _ in range(3))
    bottom = tuple(rng.randint(0, 255) for _ in range(3))
    image = Image.new("RGB", (size, size))
    draw = ImageDraw.Draw(image)
    for y in range(size):
        t = y / (size - 1)
        colour = tuple(int(a + (b - a) * t) for a, b in zip(top, bottom, strict=True))
        draw.line((0, y, size, y), fill=colour)
    for _ in range(rng.randint(8, 16)):
        box = sorted(rng.randint(0, size) for _ in range(2)) + sorted(
            rng.randint(0, size) for _ in range(2)
        )
        x0, x1, y0, y1 = box
        fill = tuple(rng.randint(0, 255) for _ in range(3))
        shape = rng.random()
        if shape < 0.4:
            draw.rectangle((x0, y0, x1, y1), fill=fill)
        elif shape < 0.8:
            draw.ellipse((x0, y0, x1, y1), fill=fill)
        else:
            draw.line((x0, y0, x1, y1), fill=fill, width=rng.randint(2, 12))
    return image


def _variant(rng: random.Random, image: Image.Image, first: bool) -> bytes:
    out = io.BytesIO()
    if first:
        image.save(out, format="PNG")
        return out.getvalue()
    scale = rng.uniform(0.75, 1.0)
    side = int(256 * scale)
    resized = image.resize((side, side))
    crop = int(side * rng.uniform(0.0, 0.01))
    resized = resized.crop((crop, crop, side - crop, side - crop))
    resized.save(out, format="JPEG", quality=rng.randint(60, 95))
    return out.getvalue()


def _copy_counts(rng: random.Random, n: int, k: int) -> list[int]:
    weights = [1.0 / (i + 1) ** 0.9 for i in range(k)]
    rng.shuffle(weights)
    total = sum(weights)
    counts = [max(1, int(n * w / total)) for w in weights]
    while sum(counts) > n:
        counts[counts.index(max(counts))] -= 1
    i = 0
    while sum(counts) < n:
        counts[i % k] += 1
        i += 1
    return counts


def cached(n: int, k: int, folder: Path | str) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """`generate(n=n, k=k)` (seed 1), kept in `folder` as `flood_corpus_{n}_{k}.pickle`
    the first time and read from there afterwards: the benchmarks that ingest the corpus
    (`bench_clusters`, `fingerprint_profile`) share one copy, and generating it (images
    drawn and hashed) is not part of what they time."""
    path = Path(folder) / f"flood_corpus_{n}_{k}.pickle"
    if path.exists():
        items, truth = pickle.loads(path.read_bytes())
        return items, truth
    items, truth = generate(n=n, k=k)
    path.write_bytes(pickle.dumps((items, truth)))
    return items, truth


def generate(
    *, n: int, k: int, seed: int = 1, image_share: float = 0.3
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """`n` items copying `k` originals, shuffled, and the ground truth (each item's
    `external_id` to its original's number)."""
    rng = random.Random(seed)
    vocab = _vocabulary()
    policies = sorted(_TEMPLATES)
    counts = _copy_counts(rng, n, k)
    items: list[dict[str, Any]] = []
    truth: dict[str, int] = {}
    for original, count in enumerate(counts):
        policy = rng.choice(policies)
        template = _original_text(rng, policy, vocab).replace("{", "{{").replace("}", "}}")
        template = template.replace("{{day}}", "{day}").replace("{{price}}", "{price}")
        template = template.replace("{{phone}}", "{phone}")
        variants: list[dict[str, str]] = []
        if rng.random() < image_share:
            image = _original_image(rng)
            for v in range(6):
                data = _variant(rng, image, v == 0)
                digest, pdq, _quality = hash_image(data)
                entry = {"sha256": digest}
                if pdq is not None:
                    entry["pdq"] = pdq
                variants.append(entry)
        for c in range(count):
            external_id = f"o{original}-c{c}"
            item: dict[str, Any] = {
                "source": "flood",
                "external_id": external_id,
                "policy": policy,
                "text": _copy_text(rng, template),
                "signals": [{"name": "clf-v2", "score": round(rng.random(), 2)}],
                "views": rng.randint(0, 50_000),
                "flagged_at": "2026-11-24T08:00:00Z",
            }
            if variants:
                hashes = rng.choice(variants)
                item["media"] = [
                    {
                        "kind": "image",
                        "url": f"https://media.example.net/{external_id}.jpg",
                        **hashes,
                    }
                ]
                if rng.random() < 0.05:
                    item["text"] = rng.choice(_CAPTIONS)
            items.append(item)
            truth[external_id] = original
    rng.shuffle(items)
    return items, truth
