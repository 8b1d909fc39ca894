"""The cold-start curve on MovieLens 100K: NDCG@20 of new users (items) that reveal k = 1, 2, 3, 5, 10 interactions.

Protocols `few-shot-user` and `few-shot-item` (`engine.protocols.few_shot`): 20% of the users (items) are held out
and halved into valid and test; each reveals its first 10 rows in time order and the rest is its test truth, and
the slice for k shows the model only the first k of them, so every k is scored on the same held-out rows. Every
model is tuned on the validation slice (k = 3) with the same trial budget, then scored once on each test slice and
on the split's warm test slice. Below each table, per k, the best cold-start or deep model minus the best model-zoo-I
baseline on the same test users (seeds pooled), with a paired bootstrap 95% CI.

    .venv/bin/python benchmarks/fewshot_table.py --threads 1            # both protocols, seeds 1,2,3, budget 4
    .venv/bin/python benchmarks/fewshot_table.py --protocols few-shot-user --seeds 1 --models als,metaemb --budget 1
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.protocol_cases import (best_of, ci_verdict, per_user_series,  # noqa: E402
                                       protocol_cases, table_arguments, table_seeds)
from engine.data.canonical import read_canonical_folder  # noqa: E402
from engine.data.indexing import dataset_features  # noqa: E402
from engine.metrics.evaluation import evaluate, reason_not_served  # noqa: E402
from engine.metrics.statistics import paired_comparison  # noqa: E402
from engine.models.registry import get_model_class, model_names  # noqa: E402
from engine.runs.tuning import tune_model  # noqa: E402

BASELINES = ["mostpop", "segmentpop", "itemknn", "userknn", "ease", "als", "bpr", "content", "mapper"]
"""Model zoo I models that use revealed interactions (fold-in) or attributes for a new user or item."""
SPECIALISTS = ["dropoutnet", "heater", "metaemb", "item2vec", "sasrec"]
"""Issue 6's models that fold in a few interactions: the cold-start specialists and the sequence/attention models."""
PROTOCOLS = ["few-shot-user", "few-shot-item"]
METRIC = "ndcg@20"


def _arguments() -> argparse.Namespace:
    parser = table_arguments(__doc__, PROTOCOLS, "few-shot protocols, comma-separated")
    parser.add_argument("--models", default=",".join(SPECIALISTS), help="cold-start / deep models, comma-separated")
    parser.add_argument("--baselines", default=",".join(BASELINES), help="model-zoo-I baselines, comma-separated")
    parser.add_argument("--budget", type=int, default=4, help="tuning trials per model, protocol and seed")
    return parser.parse_args()


def main() -> None:
    args = _arguments()
    known = set(model_names())
    specialists = [m for m in args.models.split(",") if m in known]
    baselines = [m for m in args.baselines.split(",") if m in known]
    dataset = read_canonical_folder(args.data)
    features = dataset_features(dataset)
    seeds = table_seeds(args)
    for protocol in args.protocols.split(","):
        # (model, slice) -> per-user NDCG@20 series, indexed "seed:user" so seeds pool into one paired comparison
        per_user: dict[tuple[str, str], list[pd.Series]] = {}
        not_applicable: dict[str, str] = {}
        slice_names: list[str] = []
        for case in protocol_cases(dataset, protocol, seeds, METRIC, features):
            # one slice per k; `overall` (held-out and warm users together, at k = 3) is left out
            shots = sorted((s for s in case.split.test if s.shots is not None and s.name != "overall"),
                           key=lambda s: s.shots)
            reported = shots + [s for s in case.split.test if s.name == "warm"]
            slice_names = [s.name for s in reported]
            for name in baselines + specialists:
                reason = reason_not_served(get_model_class(name), case.train, shots[0])
                if reason is not None:
                    not_applicable[name] = reason
                    continue
                tuning = tune_model(name, case.train, case.validator, budget=args.budget, seed=case.seed)
                scored = evaluate(tuning.best_model, case.train, reported, (20,), seed=case.seed, n_bootstrap=0,
                                  beyond=False)
                for slice_name in slice_names:
                    per_user.setdefault((name, slice_name), []).append(
                        per_user_series(scored.per_user, slice_name, case.seed, METRIC))
                curve = " ".join(f"{scored.metric(s.name, METRIC).mean:.3f}" for s in shots)
                print(f"[{protocol} seed {case.seed}] {name:<10} valid {tuning.best_score:.4f} test k-curve {curve} "
                      f"params {tuning.best_params}", file=sys.stderr, flush=True)
        _print_protocol(protocol, args, slice_names, per_user, not_applicable, baselines, specialists)
    print(f"\ntorch {torch.__version__}, {torch.get_num_threads()} CPU threads")


def _print_protocol(protocol: str, args: argparse.Namespace, slice_names: list[str],
                    per_user: dict[tuple[str, str], list[pd.Series]], not_applicable: dict[str, str],
                    baselines: list[str], specialists: list[str]) -> None:
    """The model x k table of one protocol, then per k the best specialist against the best baseline."""
    pooled = {key: pd.concat(series) for key, series in per_user.items()}
    means = {key: float(series.mean()) for key, series in pooled.items()}
    labels = [name.rsplit("-", 1)[-1] if name != "warm" else "warm (same split)" for name in slice_names]
    print(f"\n{protocol}: NDCG@20 on {Path(args.data).name}, mean over seeds {args.seeds}, tuned on valid "
          f"(k = 3) with {args.budget} trials per model and seed\n")
    print("| model | family | " + " | ".join(labels) + " |")
    print("|---|---|" + "---|" * len(labels))
    for name in baselines + specialists:
        cls = get_model_class(name)
        cells = ["n/a" if name in not_applicable else f"{means[(name, s)]:.3f}" for s in slice_names]
        print(f"| {cls.label} (`{name}`) | {'zoo I' if name in baselines else cls.family} | " + " | ".join(cells) + " |")
    print()
    for slice_name in slice_names[:-1]:
        by_model = {name: means[(name, slice_name)] for name in baselines + specialists if (name, slice_name) in means}
        challenger, champion = best_of(specialists, by_model), best_of(baselines, by_model)
        if challenger is None or champion is None:
            continue
        comparison = paired_comparison(pooled[(challenger, slice_name)], pooled[(champion, slice_name)])
        low, high = comparison.ci
        verdict = ci_verdict(low, high)
        print(f"{slice_name}: best cold-start/deep {challenger} {by_model[challenger]:.3f} {verdict} best zoo-I "
              f"{champion} {by_model[champion]:.3f}: {comparison.mean_difference:+.4f} "
              f"(paired 95% CI {low:+.4f} .. {high:+.4f}, {comparison.n_users} user-splits)")
    for name, reason in sorted(not_applicable.items()):
        print(f"n/a {name}: {reason}")


if __name__ == "__main__":
    main()
