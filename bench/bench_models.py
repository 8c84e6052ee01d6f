"""Model loop benchmark: training time, scoring rate against bare scikit-learn, and the
share of human decisions a model saves at 0.95 precision.

    python bench/bench_models.py [--n 100000] [--score-items 5000] [--seed 1]

1. Generates a synthetic corpus of `--n` decided posts whose labels come from a hidden
   rule plus noise: a post is violating when it names a target group next to a hostile
   term (either of them alone is not enough), and 5% of the labels are flipped (reviewer
   noise). Vocabulary, lengths and the rule are made up here; nothing is downloaded.
2. Training: `train_model` (the `modqueue model train` path after the database read:
   features, C tuned on validation, calibration, card figures) on the decisions, split
   with the export's content-hash splits. Fast path: the decisions are built in memory,
   not through claim and decide.
3. Scoring: `--score-items` new pending items in a fresh SQLite database scored by
   `prescore_pending` (read, mask, score, write the signal through the ingest merge,
   cursor) against the bare pipeline (`features.transform` + `predict_proba`) on the
   same texts; also `ModelBundle.predict` in memory (the label model too). The bare
   pipeline and `predict` alternate three times, best of three; `prescore_pending` runs
   once (it changes the database).
4. Saved decisions: on the test split, the share of items scoring above the threshold
   chosen on validation for 0.95 precision (a suggested label a reviewer only confirms),
   with the precision reached on test; and the share below the threshold giving 0.95
   precision for "not violating" (the low lane).
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from modqueue.integrations.export import split_for
from modqueue.learning import ModelsConfig, activate_model, prescore_pending
from modqueue.learning._data import Example
from modqueue.learning._registry_models import ModelState, ModelVersion
from modqueue.learning._train import threshold_for, train_model
from modqueue.queue import ReviewQueue

GROUPS = ["migrants", "muslims", "jews", "roma", "refugees", "sikhs", "travellers", "asylum"]
HOSTILE = ["vermin", "invaders", "filth", "parasites", "disease", "scum", "rats", "plague"]


def _vocabulary(rng: random.Random, n: int = 3000) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = {"".join(rng.choice(letters) for _ in range(rng.randint(3, 9))) for _ in range(n)}
    return sorted(words)


def corpus(n: int, seed: int, noise: float = 0.05) -> list[tuple[str, bool]]:
    """`n` posts and their (noisy) labels from the hidden rule."""
    rng = random.Random(seed)
    vocab = _vocabulary(rng)
    out = []
    for _ in range(n):
        words = rng.choices(vocab, k=rng.randint(10, 30))
        has_group = rng.random() < 0.5
        has_hostile = rng.random() < 0.45
        if has_group:
            words.insert(rng.randrange(len(words)), rng.choice(GROUPS))
        if has_hostile:
            words.insert(rng.randrange(len(words)), rng.choice(HOSTILE))
        violating = has_group and has_hostile
        if rng.random() < noise:
            violating = not violating
        out.append((" ".join(words), violating))
    return out


def examples(posts: list[tuple[str, bool]]) -> list[Example]:
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    return [
        Example(
            item_id=i,
            text=text,
            label="remove-hate" if violating else "no-violation",
            violating=violating,
            guideline_version="sha256:bench",
            split=split_for(
                text=text, url=None, media=None, source="bench", external_id=str(i), masked=True
            ),
            decided_at=now,
        )
        for i, (text, violating) in enumerate(posts)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--score-items", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    posts = corpus(args.n, args.seed)
    data = examples(posts)
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    result = train_model(data, target_precision=0.95)
    train_wall, train_cpu = time.perf_counter() - t0, time.process_time() - cpu0
    test = result.metrics["test"]
    print(f"training on {args.n} decisions: {train_wall:.1f} s wall, {train_cpu:.1f} s CPU")
    print(
        f"  test: precision {test['precision']:.3f} recall {test['recall']:.3f} "
        f"PR-AUC {test['pr_auc']:.3f} (n={test['n']}); C={result.metrics['tuning']['c']}"
    )

    # Saved decisions at 0.95 precision.
    bundle = result.bundle
    val = [e for e in data if e.split == "validation"]
    tst = [e for e in data if e.split == "test"]
    s_val = bundle.scores([e.text for e in val])
    s_tst = bundle.scores([e.text for e in tst])
    y_val = [int(e.violating) for e in val]
    y_tst = [int(e.violating) for e in tst]
    high = threshold_for(y_val, s_val, 0.95)
    low = threshold_for([1 - y for y in y_val], [1 - s for s in s_val], 0.95)
    if high is not None:
        above = [y for y, s in zip(y_tst, s_tst, strict=True) if s >= high]
        print(
            f"  suggest band (score >= {high:.3f}): {len(above) / len(tst):.1%} of test items, "
            f"precision {sum(above) / max(len(above), 1):.3f} on test"
        )
    if low is not None:
        below = [y for y, s in zip(y_tst, s_tst, strict=True) if 1 - s >= low]
        print(
            f"  low band (score <= {1 - low:.3f}): {len(below) / len(tst):.1%} of test items, "
            f"'not violating' precision {1 - sum(below) / max(len(below), 1):.3f} on test"
        )

    # Scoring rate.
    texts = [t for t, _ in corpus(args.score_items, args.seed + 99)]
    bare = in_memory = float("inf")
    for _ in range(3):  # alternate, best of three: the machine is shared
        t0 = time.perf_counter()
        bundle.classifier.predict_proba(bundle.features.transform(texts))
        bare = min(bare, time.perf_counter() - t0)
        t0 = time.perf_counter()
        bundle.predict(texts)
        in_memory = min(in_memory, time.perf_counter() - t0)
    with tempfile.TemporaryDirectory() as tmp:
        import joblib

        folder = Path(tmp) / "models" / "hate" / "v1"
        folder.mkdir(parents=True)
        joblib.dump(bundle, folder / "model.joblib")
        queue = ReviewQueue(f"sqlite:///{tmp}/bench.db")
        queue.enqueue(
            [
                {"source": "bench", "external_id": f"p{i}", "text": t, "policy": "hate"}
                for i, t in enumerate(texts)
            ]
        )
        now = queue.clock()

        def register(session):
            session.add(
                ModelVersion(
                    policy="hate",
                    version="v1",
                    state=ModelState.CANDIDATE,
                    path=str(folder),
                    guideline_versions=[queue.guidelines.get("hate").version],
                    metrics=result.metrics,
                )
            )
            session.flush()
            activate_model(session, policy="hate", version="v1", actor="bench", now=now)

        queue.run(register)
        t0 = time.perf_counter()
        report = prescore_pending(queue, config=ModelsConfig(dir=Path(tmp) / "models"))
        full = time.perf_counter() - t0
        assert report.total == len(texts), report.to_dict()
        queue.close()
    n = len(texts)
    print(f"scoring {n} items:")
    print(f"  bare pipeline      {n / bare:10.0f} items/s")
    print(f"  bundle.predict     {n / in_memory:10.0f} items/s  ({bare / in_memory:.2f}x)")
    print(f"  prescore_pending   {n / full:10.0f} items/s  ({bare / full:.2f}x, SQLite)")


if __name__ == "__main__":
    main()
