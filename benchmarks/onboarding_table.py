"""Onboarding on MovieLens 100K: NDCG@10 of new users after k sign-up questions, per strategy and model.

Protocol (`engine.onboarding`): a cold-user split (seeded, `--cold-fraction` of the users held out and halved into
valid and test); each test user's rows on training items are drawn once into an answerable half and a test half.
At each step every strategy asks each user about one training item; the user answers from the answerable half
(liked = rating >= 4, not liked, or never seen), the model (default hyper-parameters, no tuning) folds the liked
answers in, and the ranking over all training items, answered items excluded, is scored on the test half. Every
strategy sees the same users and test items, so each is compared with random revealing user by user: paired
bootstrap 95% CI of the difference, seeds pooled. The last lines say whether the best strategy beats random at
k = 3, 5 and 10 with the CI above zero.

    .venv/bin/python benchmarks/onboarding_table.py                                  # itemknn, als, ease; seed 0
    .venv/bin/python benchmarks/onboarding_table.py --models als --seeds 0,1 --steps 1,3,5,10
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.data.canonical import read_canonical_folder  # noqa: E402
from engine.data.indexing import build_train_data, dataset_features  # noqa: E402
from engine.models.registry import create_model  # noqa: E402
from engine.onboarding import (BASELINE, STRATEGIES, best_strategy, onboarding_curves,  # noqa: E402
                               onboarding_population, simulate_onboarding)
from engine.runs.protocol_catalog import make_split  # noqa: E402
from tests.shared_data import ML100K  # noqa: E402

BAR_STEPS = (3, 5, 10)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(ML100K),
                        help="canonical dataset folder (default ../shared/data/ml-100k)")
    parser.add_argument("--seeds", default="0", help="split seeds, comma-separated")
    parser.add_argument("--models", default="itemknn,als,ease", help="models that fold in new users")
    parser.add_argument("--strategies", default=",".join(STRATEGIES), help="onboarding strategies")
    parser.add_argument("--steps", default="1,2,3,5,10", help="numbers of questions to score after")
    parser.add_argument("--cold-fraction", type=float, default=0.4, help="share of users held out as new users")
    parser.add_argument("--answer-fraction", type=float, default=0.5,
                        help="share of a new user's rows they can answer from (the rest is the test part)")
    parser.add_argument("--metric", default="ndcg@10")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    return parser.parse_args()


def main() -> None:
    args = _arguments()
    torch.set_num_threads(args.threads)
    steps = tuple(int(s) for s in args.steps.split(","))
    cut = int(args.metric.partition("@")[2])
    dataset = read_canonical_folder(args.data)
    features = dataset_features(dataset)
    for model_name in args.models.split(","):
        frames = []
        started = time.perf_counter()
        for seed in (int(s) for s in args.seeds.split(",")):
            split = make_split(dataset, "cold-user", seed, {"cold_fraction": args.cold_fraction})
            train = build_train_data(split.train, dataset, features)
            users = next(s for s in split.test if s.name == "cold-user").users
            population = onboarding_population(dataset, train, users, seed, answer_fraction=args.answer_fraction)
            model = create_model(model_name, {}, seed).fit(train)
            per_user = simulate_onboarding(model, train, dataset, population, args.strategies.split(","), steps,
                                           ks=(cut,), seed=seed)
            frames.append(per_user.assign(user_id=str(seed) + ":" + per_user["user_id"]))
        per_user = pd.concat(frames, ignore_index=True)
        curves = onboarding_curves(per_user, args.metric, n_bootstrap=2000)
        seconds = time.perf_counter() - started
        print(f"\n## {model_name}: {args.metric} after k questions ({per_user['user_id'].nunique()} new users, "
              f"seeds {args.seeds}, {seconds:.0f} s)")
        table = curves.pivot(index="strategy", columns="step", values="mean")
        print(table.map(lambda v: f"{v:.4f}").to_string())
        print("answered questions (mean) at the largest k:",
              ", ".join(f"{r.strategy} {r.answered:.2f}" for r in curves.loc[curves["step"] == steps[-1]].itertuples()))
        best = best_strategy(curves, BAR_STEPS)
        if best is None:
            continue
        for step in BAR_STEPS:
            row = curves.loc[(curves["strategy"] == best) & (curves["step"] == step)]
            if row.empty:
                continue
            r = row.iloc[0]
            verdict = "beats random" if r["beats_baseline"] else "NOT outside the CI"
            print(f"k={step}: best strategy {best} {r['mean']:.4f} vs {BASELINE} {r['mean'] - r['difference']:.4f}: "
                  f"difference {r['difference']:+.4f}, 95% CI [{r['difference_ci_low']:+.4f}, "
                  f"{r['difference_ci_high']:+.4f}], p {r['p_value']:.2g} -> {verdict}")


if __name__ == "__main__":
    main()
