"""Split assignment (near-duplicates together, 80/10/10) and loading with `datasets`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest

from modqueue.integrations.export import content_key, mask_pii, split_for
from tests.integrations.export.conftest import Seeded
from tests.integrations.export.test_export import _export


def _split(text: str, n: int = 0) -> str:
    return split_for(text=text, url=None, media=None, source="s", external_id=f"e{n}")


def test_near_duplicates_share_a_split() -> None:
    template = (
        "Channel crossing this week, 100% success, pay on arrival. Message {who} on "
        "{phone} or see {link} for the {n} places left on the boat from the beach"
    )
    variants = [
        template.format(who=w, phone=p, link=u, n=n)
        for w, p, u, n in [
            ("me", "+44 7700 900123", "https://t.example/a", 3),
            ("ME!!", "07700 900999", "http://x.example/b?ref=9", 12),
            ("me", "+33 6 12 34 56 78", "www.y.example/c", 40),
        ]
    ]
    keys = {
        content_key(text=v, url=None, media=None, source="s", external_id="x") for v in variants
    }
    assert len(keys) == 1  # differ only in numbers, links, contact details, case
    # One extra word (a Jaccard of 0.89 on bigrams) keeps this pair's MinHash too.
    edited = variants[0].replace("pay on arrival", "pay cash on arrival")
    assert _split(edited) == _split(variants[0])
    # No text: the URL without query or fragment decides; no content: the identity.
    a = split_for(
        text=None, url="https://v.example/x?utm=1", media=None, source="s", external_id="1"
    )
    b = split_for(text=None, url="https://v.example/x#top", media=None, source="s", external_id="2")
    assert a == b


def test_split_proportions_are_near_80_10_10() -> None:
    # Distinct texts (no shared wording): the split is a uniform hash of each key.
    words = _words(9000)
    texts = [" ".join(words[i : i + 3]) for i in range(0, 9000, 3)]
    counts = Counter(_split(t) for t in texts)
    assert 0.76 < counts["train"] / 3000 < 0.84
    assert 0.07 < counts["validation"] / 3000 < 0.13
    assert 0.07 < counts["test"] / 3000 < 0.13


def _words(n: int) -> list[str]:
    alphabet = "abcdefghijklmnopqrstuvwxyz"
    return [
        alphabet[i % 26] + alphabet[(i // 26) % 26] + alphabet[(i // 676) % 26] for i in range(n)
    ]


def test_masking() -> None:
    assert (
        mask_pii("mail a.b-c@sub.example.co.uk, call (020) 7946-0958 or +44 7700 900123")
        == "mail [EMAIL], call [PHONE] or [PHONE]"
    )
    # Dates, prices and short numbers are not phone numbers.
    kept = "on 2026-11-24 for 1500 euros, 3 boats"
    assert mask_pii(kept) == kept


@pytest.mark.slow  # imports the datasets library in a process of its own
def test_jsonl_loads_with_datasets_offline(seeded: Seeded, tmp_path: Path) -> None:
    out = tmp_path / "ds"
    _export(seeded, out)
    files = {s: str(out / f"{s}.jsonl") for s in ("train", "validation", "test")}
    nonempty = {s: f for s, f in files.items() if Path(f).stat().st_size}
    assert nonempty
    code = textwrap.dedent(
        f"""
        import json, datasets
        summary = {{}}
        # Each split file on its own with the plain JSON loader (types inferred).
        for split, path in {nonempty!r}.items():
            ds = datasets.load_dataset("json", data_files={{split: path}})
            summary[split] = [ds[split].num_rows, sorted(ds[split].column_names)]
        # The whole folder: README.md's configs and features give every split exact types.
        whole = datasets.load_dataset({str(out)!r})
        summary["folder"] = {{s: whole[s].num_rows for s in whole}}
        summary["annotator"] = whole["train"][0]["annotations"][0]["annotator"][:10]
        summary["agreement"] = str(whole["train"].features["agreement"])
        print(json.dumps(summary))
        """
    )
    env = {
        **os.environ,
        "HF_DATASETS_OFFLINE": "1",
        "HF_HUB_OFFLINE": "1",
        "HF_HOME": str(tmp_path / "hf"),
        "HF_DATASETS_CACHE": str(tmp_path / "hf-cache"),
    }
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    rows = {s: len(Path(f).read_text(encoding="utf-8").splitlines()) for s, f in nonempty.items()}
    assert loaded["folder"] == rows
    for split, count in rows.items():
        assert loaded[split][0] == count
        assert {"annotations", "label", "split", "agreement"} <= set(loaded[split][1])
    assert loaded["annotator"] == "annotator-"
    assert "float64" in loaded["agreement"]
