"""Content on rich vocabularies: validation NDCG@20 of the old and new content settings per kind of data, and the
fit and scoring time on a 50k-tag vocabulary.

For each data set (the synthetic kinds of `engine.data.synthetic_kinds` and MovieLens 100K, read in place) and
split seed, every setting of content is fitted on the cold-item split's training part and scored on its
validation slice only (never test). "old" is content before issue 15 (values as encoded, no cut-offs, a plain sum
profile); "new" the current defaults; the other rows switch one new default back, to show what each one brings.

    .venv/bin/python benchmarks/content_vocabulary.py                   # seeds 1,2,3, every data set
    .venv/bin/python benchmarks/content_vocabulary.py --seeds 1 --data tags,ml-100k --vocabulary 0
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.protocol_cases import protocol_cases  # noqa: E402
from engine.data.canonical import read_canonical_folder  # noqa: E402
from engine.data.dataset import Dataset  # noqa: E402
from engine.data.indexing import build_train_data, dataset_features, item_query, user_query  # noqa: E402
from engine.data.synthetic_kinds import generate_kind  # noqa: E402
from engine.models.content import ContentRecommender  # noqa: E402
from tests.shared_data import ML100K  # noqa: E402

METRIC = "ndcg@20"
KIND_SIZES = {"tags": (2_000, 5_000, 40_000), "genres": (2_000, 2_000, 60_000), "text": (2_000, 3_000, 40_000),
              "counts": (2_000, 1_000, 40_000)}
"""users, items, interactions of each synthetic kind: a few minutes on two CPU cores for all of them."""
SETTINGS = {
    "old": {"weighting": "encoded", "min_df": 1, "max_df": 1.0, "profile_damping": 1.0},
    "new": {},
    "new, encoded values": {"weighting": "encoded"},
    "new, plain-sum profile": {"profile_damping": 1.0},
    "new, linear word counts": {"sublinear_tf": False},
    "new, min_df 2": {"min_df": 2},
    "new, max_df 0.5": {"max_df": 0.5},
}


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=",".join([*KIND_SIZES, "ml-100k"]),
                        help="data sets, comma-separated: synthetic kinds and ml-100k")
    parser.add_argument("--seeds", default="1,2,3", help="split seeds, comma-separated")
    parser.add_argument("--vocabulary", type=int, default=50_000,
                        help="distinct tags for the fit-time measure (0 skips it)")
    return parser.parse_args()


def _dataset(name: str) -> Dataset:
    return read_canonical_folder(ML100K) if name == "ml-100k" else generate_kind(name, *KIND_SIZES[name], seed=0)


def validation_table(names: list[str], seeds: list[int]) -> pd.DataFrame:
    """Mean validation NDCG@20 over seeds: one row per setting, one column per data set."""
    table = {}
    for name in names:
        dataset = _dataset(name)
        scores: dict[str, list[float]] = {setting: [] for setting in SETTINGS}
        for case in protocol_cases(dataset, "cold-item", seeds, METRIC):
            for setting, params in SETTINGS.items():
                scores[setting].append(case.validator(ContentRecommender(params, seed=case.seed).fit(case.train)))
        table[name] = {setting: sum(values) / len(values) for setting, values in scores.items()}
        print(f"  {name}: " + ", ".join(f"{s} {v:.4f}" for s, v in table[name].items()), flush=True)
    frame = pd.DataFrame(table)
    frame["mean"] = frame.mean(axis=1)
    return frame


def fit_seconds(n_tags: int) -> tuple[int, list[tuple[float, float]]]:
    """Columns of the encoded tag vocabulary, and the old and new settings' seconds to fit and to score 1,000
    users against the whole catalogue."""
    n_items = int(n_tags * 0.9)  # the generator's vocabulary grows with the catalogue
    dataset = generate_kind("tags", n_items // 2, n_items, 4 * n_items, seed=0)
    features = dataset_features(dataset)
    train = build_train_data(dataset.positives(), dataset, features)
    users, items = user_query(train, train.user_ids[:1_000]), item_query(train, train.item_ids)
    seconds = []
    for setting in ("old", "new"):
        start = time.perf_counter()
        model = ContentRecommender(SETTINGS[setting]).fit(train)
        fitted = time.perf_counter()
        model.score(users, items)
        seconds.append((fitted - start, time.perf_counter() - fitted))
    return features[1].n_features, seconds


def main() -> None:
    args = _arguments()
    seeds = [int(s) for s in args.seeds.split(",")]
    print(f"content, cold-item validation {METRIC}, mean over seeds {seeds}:", flush=True)
    table = validation_table(args.data.split(","), seeds)
    print(table.round(4).to_string())
    if args.vocabulary:
        columns, seconds = fit_seconds(args.vocabulary)
        print(f"a tag vocabulary of {columns:,} columns: " + ", ".join(
            f"{setting} fit {fit:.1f} s, scoring 1,000 users {score:.1f} s"
            for setting, (fit, score) in zip(("old", "new"), seconds)))


if __name__ == "__main__":
    main()
