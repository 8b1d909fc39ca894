"""Issue 14's bar: on the reference split files of MovieLens 100K (`../shared/splits/ml-100k/`, the very rows the
established libraries were measured on, see its README), every model tuned with the same budget on `valid.csv`
only, the best trial scored once on `test.csv`.

Per protocol it prints each model's test NDCG@20 (mean over seeds), and the best of ours against the best library
model run here through `benchmarks/library_models.py` (tuned with the same budget), paired user by user over the
pooled seeds (bootstrap 95% CI), next to the library figures published in the splits' README.

    .venv/bin/python benchmarks/reference_splits.py                     # seeds 42,1,2; --tune 16; all protocols
    .venv/bin/python benchmarks/reference_splits.py --protocols cold-item --budget 4 --seeds 42 --threads 1
    .venv/bin/python benchmarks/reference_splits.py --protocols cold-user --models auto,mapper --budget 1 --against auto

Library columns need `.venv/bin/pip install -r requirements-bench.txt`; without them only ours are printed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ["COLDSTART_EXTRA_MODELS"] = ",".join(
    m for m in [*os.environ.get("COLDSTART_EXTRA_MODELS", "").split(","), "benchmarks.library_models"] if m.strip())

from benchmarks.library_models import THREADS_ENV, missing_libraries  # noqa: E402
from benchmarks.protocol_cases import best_of, ci_verdict  # noqa: E402
from engine.data.canonical import read_canonical_folder  # noqa: E402
from engine.data.indexing import build_train_data, dataset_features  # noqa: E402
from engine.metrics.evaluation import evaluate, make_validator, reason_not_served  # noqa: E402
from engine.metrics.statistics import paired_comparison  # noqa: E402
from engine.models.registry import get_model_class  # noqa: E402
from engine.protocols import check_split_matches, read_split_folder  # noqa: E402
from engine.runs.tuning import DEFAULT_TRIALS, tune_model  # noqa: E402
from tests.shared_data import ML100K, ML100K_SPLITS  # noqa: E402

METRIC = "ndcg@20"
SPLITS = ML100K_SPLITS
OURS = {"cold-item": ["content", "mapper", "hybridmf", "twotower"],
        "cold-user": ["mostpop", "segmentpop", "mapper", "hybridmf"],
        "warm": ["als", "ease", "rp3beta", "itemknn", "mapper"]}
LIBRARIES = {"cold-item": ["lightfm_features"], "cold-user": ["lightfm"], "warm": ["implicit_als", "lightfm"]}
PUBLISHED = {"cold-item": ("LightFM, items by genres + year only", 0.153), "cold-user": ("LightFM", 0.412),
             "warm": ("implicit ALS", 0.247)}
"""The best library figure of the splits' README per protocol (mean of seeds 42, 1, 2)."""


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(ML100K))
    parser.add_argument("--splits", default=str(SPLITS), help="folder of <protocol>/seed<N> split folders")
    parser.add_argument("--seeds", default="42,1,2")
    parser.add_argument("--protocols", default="cold-item,cold-user,warm")
    parser.add_argument("--budget", type=int, default=DEFAULT_TRIALS, help="tuning trials per model and seed")
    parser.add_argument("--models", help="our models, comma-separated (default: a set per protocol)")
    parser.add_argument("--libraries", help="library models to run here, comma-separated; 'none' for the published "
                                            "figures alone (default: a set per protocol)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--against", help="also print every other model minus this one, paired over users")
    return parser.parse_args()


def main() -> None:
    args = _arguments()
    torch.set_num_threads(args.threads)
    os.environ[THREADS_ENV] = str(args.threads)
    seeds = [int(s) for s in args.seeds.split(",")]
    dataset = read_canonical_folder(args.data)
    features = dataset_features(dataset)
    for protocol in args.protocols.split(","):
        ours = args.models.split(",") if args.models else OURS[protocol]
        wanted = LIBRARIES[protocol] if args.libraries is None else \
            [name for name in args.libraries.split(",") if name and name != "none"]
        libraries = [name for name in wanted if not missing_libraries([name])]
        per_user: dict[str, list[pd.Series]] = {}
        means: dict[str, list[float]] = {}
        for seed in seeds:
            split = read_split_folder(Path(args.splits) / protocol / f"seed{seed}")
            check_split_matches(split, dataset)
            train = build_train_data(split.train, dataset, features)
            validator = make_validator(train, split, METRIC, seed=seed)
            test_slice = next(s for s in split.test if s.name == protocol)
            for name in ours + libraries:
                if reason_not_served(get_model_class(name), train, test_slice) is not None:
                    continue
                started = time.perf_counter()
                tuning = tune_model(name, train, validator, budget=args.budget, seed=seed)
                evaluation = evaluate(tuning.best_model, train, [test_slice], (20,), seed=seed, n_bootstrap=0,
                                      beyond=False)
                rows = evaluation.per_user.loc[evaluation.per_user["slice"] == protocol]
                per_user.setdefault(name, []).append(
                    pd.Series(rows[METRIC].to_numpy(float), index=[f"{seed}:{u}" for u in rows["user_id"]]))
                means.setdefault(name, []).append(float(evaluation.metric(protocol, METRIC).mean))
                print(f"[{protocol} seed {seed}] {name:<17} valid {tuning.best_score:.4f} test {means[name][-1]:.4f} "
                      f"({time.perf_counter() - started:.0f} s, {len(tuning.trials)} trials)", file=sys.stderr,
                      flush=True)
        mean = {name: float(np.mean(values)) for name, values in means.items()}
        print(f"\n## {protocol}: NDCG@20 on test, tuned on valid with {args.budget} trials each, seeds {args.seeds}\n")
        print("| model | " + " | ".join(f"seed {s}" for s in seeds) + " | mean |")
        print("|---|" + "---|" * (len(seeds) + 1))
        for name in sorted(mean, key=mean.get, reverse=True):
            kind = "library" if name in libraries else "ours"
            print(f"| {name} ({kind}) | " + " | ".join(f"{v:.4f}" for v in means[name]) + f" | {mean[name]:.4f} |")
        label, figure = PUBLISHED[protocol]
        best_ours = best_of(ours, mean)
        print(f"\nbest of ours: {best_ours} {mean.get(best_ours, float('nan')):.4f}; published best library "
              f"({label}): {figure:.3f}")
        best_library = best_of(libraries, mean)
        pairs = [(best_ours, best_library)] if best_ours and best_library else []
        if args.against in per_user:
            pairs += [(name, args.against) for name in mean if name != args.against]
        for first, second in pairs:
            paired = paired_comparison(pd.concat(per_user[first]), pd.concat(per_user[second]))
            low, high = paired.ci
            print(f"{first} - {second} = {paired.mean_difference:+.4f}, 95% CI [{low:+.4f}, {high:+.4f}] over "
                  f"{paired.n_users} users: {first} {ci_verdict(low, high)} {second}")


if __name__ == "__main__":
    main()
