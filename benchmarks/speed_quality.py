"""Issue 18's quality bar for the sped-up gradient models: validation NDCG@20 on MovieLens 100K, seeds 1-3,
default settings with early stopping on the validation slice, per user, so two versions of the code compare
paired user by user (bootstrap 95% CI, engine.metrics.statistics).

Run it once on the code before a change (from an exported copy of that commit) and once after:

    git archive <commit> | tar -x -C /tmp/before && cp benchmarks/speed_quality.py /tmp/before/benchmarks/
    (adjust its imports to that commit's module layout), then
    nice .venv/bin/python /tmp/before/benchmarks/speed_quality.py --data ../shared/data/ml-100k --out /tmp/before.csv
    nice .venv/bin/python benchmarks/speed_quality.py --out /tmp/after.csv --before /tmp/before.csv
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

from benchmarks.protocol_cases import protocol_cases  # noqa: E402
from engine.core.model import FitContext  # noqa: E402
from engine.data.canonical import read_canonical_folder  # noqa: E402
from engine.metrics.evaluation import evaluate  # noqa: E402
from engine.metrics.statistics import paired_comparison  # noqa: E402
from engine.models.registry import create_model  # noqa: E402
from tests.shared_data import ML100K  # noqa: E402

METRIC = "ndcg@20"
MODELS = "bpr,hybridmf,twotower,deepfm"


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(ML100K))
    parser.add_argument("--protocol", default="warm")
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--models", default=MODELS)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", required=True, help="CSV of per-user validation values (model, seed, user_id, value)")
    parser.add_argument("--before", help="CSV written by an earlier run: print the paired difference to it")
    return parser.parse_args()


def measure(args: argparse.Namespace) -> pd.DataFrame:
    """Fit every model on every seed's split and keep each validation user's NDCG@20."""
    dataset = read_canonical_folder(args.data)
    frames = []
    for case in protocol_cases(dataset, args.protocol, [int(s) for s in args.seeds.split(",")], METRIC):
        for name in args.models.split(","):
            model = create_model(name, {}, seed=case.seed)
            started = time.perf_counter()
            model.fit(case.train, FitContext(validator=case.validator))
            seconds = time.perf_counter() - started
            chosen = case.validator.slice_for(model)
            result = evaluate(model, case.train, [chosen], (20,), seed=case.seed, n_bootstrap=0, beyond=False)
            rows = result.per_user
            epochs = getattr(getattr(model, "training_report", None), "epochs_run", None)
            print(f"{name:<9} seed {case.seed}: valid {METRIC} {rows[METRIC].mean():.4f} ({seconds:.1f} s fit, "
                  f"{epochs} epochs)", flush=True)
            frames.append(pd.DataFrame({"model": name, "seed": case.seed, "user_id": rows["user_id"].astype(str),
                                        "value": rows[METRIC].to_numpy(float), "fit_s": seconds}))
    return pd.concat(frames, ignore_index=True)


def compare(after: pd.DataFrame, before: pd.DataFrame) -> None:
    """Per model: mean before and after, and the paired difference over the pooled seeds' users."""
    print(f"\n| model | valid {METRIC} before | after | after - before | 95% CI | fit s before | after |")
    print("|---|---|---|---|---|---|---|")
    for name in after["model"].unique():
        old = before.loc[before["model"] == name]
        new = after.loc[after["model"] == name]
        if old.empty:
            continue

        def series(frame: pd.DataFrame) -> pd.Series:
            return pd.Series(frame["value"].to_numpy(), index=frame["seed"].astype(str) + ":" + frame["user_id"])

        paired = paired_comparison(series(new), series(old))
        low, high = paired.ci
        fit_old = old.groupby("seed")["fit_s"].first().mean()
        fit_new = new.groupby("seed")["fit_s"].first().mean()
        print(f"| {name} | {old['value'].mean():.4f} | {new['value'].mean():.4f} | {paired.mean_difference:+.4f} | "
              f"[{low:+.4f}, {high:+.4f}] | {fit_old:.1f} | {fit_new:.1f} |")


def main() -> None:
    args = _arguments()
    torch.set_num_threads(args.threads)
    after = measure(args)
    after.to_csv(args.out, index=False)
    if args.before:
        compare(after, pd.read_csv(args.before, dtype={"user_id": str}))


if __name__ == "__main__":
    main()
