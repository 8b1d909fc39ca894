"""Issue 6's cold-start table: do the cold-start specialists beat the best model-zoo-I baseline on MovieLens 100K?

For each protocol (cold-item, cold-user, warm) and split seed, every model is fitted once by
`engine.runs.runner.fit_and_evaluate` (early stopping on the protocol's validation slice) with its parameters tuned on
valid: those recorded in benchmarks/tuned/<dataset>.json by `benchmarks/zoo_table.py --record` or this script's
`--budget N --record` (the same seeded search and trial budget for every model), else the model's defaults.
The table shows NDCG@20 on the test slice named like the protocol (mean over seeds) and, for the cold protocols,
on the split's warm slice, so cold-start gains and warm losses sit side by side. Below it, per protocol, the best
cold-start model minus the best baseline on the same test users (all seeds pooled): mean difference with its paired
bootstrap 95% CI; "beats" means the whole interval is above zero.

    .venv/bin/python benchmarks/coldstart_table.py                      # seeds 1,2,3, recorded/default params
    .venv/bin/python benchmarks/coldstart_table.py --seeds 1 --protocols cold-item --models dropoutnet,content
    .venv/bin/python benchmarks/coldstart_table.py --budget 8 --record  # tune every model on valid first
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.protocol_cases import (ProtocolCase, best_of, ci_verdict, per_user_series,  # noqa: E402
                                       servable_cases, table_arguments, table_seeds)
from engine.data.canonical import read_canonical_folder  # noqa: E402
from engine.metrics.statistics import paired_comparison  # noqa: E402
from engine.models.registry import get_model_class, model_names  # noqa: E402
from engine.runs.runner import fit_and_evaluate  # noqa: E402
from benchmarks.tuned_store import record_tuning, tuned_params  # noqa: E402
from engine.runs.tuning import tune_model  # noqa: E402

COLD_START = ["dropoutnet", "heater", "aldi", "metaemb", "item2vec", "sasrec"]
BASELINES = ["random", "mostpop", "segmentpop", "itemknn", "ease", "als", "bpr", "content", "mapper", "hybridmf"]
PROTOCOLS = ["cold-item", "cold-user", "warm"]
METRIC = "ndcg@20"
TARGETS = {"cold-item": 0.18, "cold-user": 0.412}
"""Issue 6's targets: cold-item 0.18 or more, cold-user above LightFM's 0.412."""


def _arguments() -> argparse.Namespace:
    parser = table_arguments(__doc__, PROTOCOLS)
    parser.add_argument("--models", default=",".join(COLD_START), help="cold-start models, comma-separated")
    parser.add_argument("--baselines", default=",".join(BASELINES), help="model-zoo-I baselines, comma-separated")
    parser.add_argument("--budget", type=int, default=0,
                        help="tune each model with this many trials on valid first (0 = use recorded parameters)")
    parser.add_argument("--record", action="store_true", help="with --budget: store the tuned parameters")
    return parser.parse_args()


def _parameters(args: argparse.Namespace, case: ProtocolCase, name: str, protocol: str) -> dict:
    """Parameters tuned on the validation slice: searched now with `--budget`, else the recorded ones."""
    dataset_key = Path(args.data).name
    if args.budget <= 0:
        return tuned_params(dataset_key, protocol, name, case.seed)
    tuning = tune_model(name, case.train, case.validator, budget=args.budget, seed=case.seed)
    if args.record:
        record_tuning(tuning, dataset_key, protocol, case.seed)
    return tuning.best_params


def main() -> None:
    args = _arguments()
    seeds = table_seeds(args)
    protocols = args.protocols.split(",")
    known = set(model_names())
    cold_start = [m for m in args.models.split(",") if m in known]
    baselines = [m for m in args.baselines.split(",") if m in known]
    dataset = read_canonical_folder(args.data)
    # (model, protocol, slice) -> per-user series over all seeds
    per_user: dict[tuple[str, str, str], list[pd.Series]] = {}
    not_applicable: dict[tuple[str, str], str] = {}
    for protocol in protocols:
        for case, name in servable_cases(dataset, protocol, seeds, METRIC, baselines + cold_start, not_applicable):
            seed = case.seed
            params = _parameters(args, case, name, protocol)
            run = fit_and_evaluate(dataset, case.split, name, params, seed, ks=(20,), device="auto")
            served = dict(run.results.served())
            for slice_name in {protocol, "warm"} & set(served):
                per_user.setdefault((name, protocol, slice_name), []).append(
                    per_user_series(run.per_user, slice_name, seed, METRIC))
            score = run.results.metric(protocol, METRIC).mean
            print(f"[{protocol} seed {seed}] {name:<10} test {score:.4f} fit {run.fit_seconds:.1f}s "
                  f"params {params}", file=sys.stderr, flush=True)

    means = {key: float(pd.concat(series).mean()) for key, series in per_user.items()}
    print(f"\nNDCG@20 on {Path(args.data).name}, seeds {args.seeds}, "
          f"{'tuned now with budget ' + str(args.budget) if args.budget else 'recorded tuned or default parameters'}"
          "; (warm) = the warm test slice of the same split\n")
    header = [f"{p}" + (f" | {p} (warm)" if p != "warm" else "") for p in protocols]
    print("| model | family | " + " | ".join(header) + " |")
    print("|---|---|" + "---|" * sum(1 if p == "warm" else 2 for p in protocols))
    for name in baselines + cold_start:
        cells = []
        for protocol in protocols:
            for slice_name in ([protocol] if protocol == "warm" else [protocol, "warm"]):
                value = means.get((name, protocol, slice_name))
                cells.append("n/a" if (name, protocol) in not_applicable else
                             ("" if value is None else f"{value:.3f}"))
        cls = get_model_class(name)
        print(f"| {cls.label} (`{name}`) | {cls.family} | " + " | ".join(cells) + " |")
    print()
    for protocol in protocols:
        on_protocol = {model: value for (model, p, slice_name), value in means.items()
                       if p == protocol and slice_name == protocol}
        challenger, champion = best_of(cold_start, on_protocol), best_of(baselines, on_protocol)
        if challenger is None or champion is None:
            continue
        comparison = paired_comparison(pd.concat(per_user[(challenger, protocol, protocol)]),
                                       pd.concat(per_user[(champion, protocol, protocol)]))
        low, high = comparison.ci
        verdict = ci_verdict(low, high)
        target, reached_value = TARGETS.get(protocol), means[(challenger, protocol, protocol)]
        reached = "" if target is None else f"; target {target:.3f} {'met' if reached_value >= target else 'missed'}"
        print(f"{protocol}: best cold-start {challenger} {reached_value:.3f} {verdict} best "
              f"baseline {champion} {means[(champion, protocol, protocol)]:.3f}: difference "
              f"{comparison.mean_difference:+.4f} (paired 95% CI {low:+.4f} .. {high:+.4f}, "
              f"{comparison.n_users} user-splits){reached}")
    for (name, protocol), reason in sorted(not_applicable.items()):
        print(f"n/a {name} on {protocol}: {reason}")
    print(f"\ntorch {torch.__version__}, {torch.get_num_threads()} CPU threads")


if __name__ == "__main__":
    main()
