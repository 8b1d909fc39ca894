"""Issue 4's model-zoo table: NDCG@20 on MovieLens 100K per protocol, mean over seeded splits, tuned on valid.

Protocol: positives are ratings >= 4 (the dataset's feedback rule); splits by `engine.protocols.make_split`
(cold-item and cold-user: 20% of items / users cold, halved into valid and test; warm: 10% valid and 10% test per
user). For each protocol and seed every model is tuned by `engine.runs.tuning.tune_model` on the validation slice with
the same trial budget, and the best configuration is scored once on the test slice named like the protocol.
Models that cannot serve a slice show "n/a" and why.

    .venv/bin/python benchmarks/zoo_table.py                     # full table (seeds 1,2,3; budget 16)
    .venv/bin/python benchmarks/zoo_table.py --seeds 1 --budget 4 --models mostpop,ease --protocols warm
    .venv/bin/python benchmarks/zoo_table.py --record            # also store tuned parameters per dataset
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.data.canonical import read_canonical_folder  # noqa: E402
from benchmarks.protocol_cases import servable_cases, table_arguments, table_seeds  # noqa: E402
from engine.data.indexing import dataset_features  # noqa: E402
from engine.metrics.evaluation import evaluate  # noqa: E402
from engine.models.registry import get_model_class, model_names  # noqa: E402
from benchmarks.tuned_store import record_tuning  # noqa: E402
from engine.runs.tuning import DEFAULT_TRIALS as DEFAULT_BUDGET, tune_model  # noqa: E402

ZOO_ONE = ["random", "mostpop", "segmentpop", "itemknn", "userknn", "rp3beta", "ease", "als", "bpr", "svdpp",
           "content", "mapper", "hybridmf"]
PROTOCOLS = ["cold-item", "cold-user", "warm"]
METRIC = "ndcg@20"
REFERENCE_BARS = {"cold-item": 0.153, "cold-user": 0.412, "warm": 0.247}
"""Best library result per slice in issue 4's table (LightFM features only, LightFM ids+features, tuned implicit ALS)."""
LIBRARY_COUNTERPARTS = {
    "als": [("warm", 0.247, "implicit ALS (tuned)")],
    "bpr": [("warm", 0.192, "implicit BPR")],
    "hybridmf": [("cold-item", 0.153, "LightFM features only"), ("cold-user", 0.412, "LightFM ids+features"),
                 ("warm", 0.228, "LightFM ids+features")],
}
"""Each re-implemented idea against its library counterpart in issue 4's table (same slice, NDCG@20)."""


def _arguments() -> argparse.Namespace:
    parser = table_arguments(__doc__, PROTOCOLS)
    parser.add_argument("--budget", type=int, default=DEFAULT_BUDGET, help="tuning trials per model, protocol, seed")
    parser.add_argument("--models", default=",".join(ZOO_ONE), help="registry keys, comma-separated")
    parser.add_argument("--record", action="store_true", help="store tuned parameters in benchmarks/tuned/")
    return parser.parse_args()


def _cell(values: list[float]) -> str:
    if not values:
        return ""
    return f"{np.mean(values):.3f}" + (f" ±{np.std(values):.3f}" if len(values) > 1 else "")


def main() -> None:
    args = _arguments()
    seeds = table_seeds(args)
    protocols = args.protocols.split(",")
    known = set(model_names())
    missing = [m for m in args.models.split(",") if m not in known]
    models = [m for m in args.models.split(",") if m in known]
    dataset = read_canonical_folder(args.data)
    dataset_key = Path(args.data).name
    features = dataset_features(dataset)
    results: dict[tuple[str, str], list[float]] = {}
    not_applicable: dict[tuple[str, str], str] = {}
    fit_seconds: dict[str, list[float]] = {}
    for protocol in protocols:
        for case, name in servable_cases(dataset, protocol, seeds, METRIC, models, not_applicable, features):
            seed, train, validator, test_slice = case.seed, case.train, case.validator, case.test_slice
            started = time.perf_counter()
            tuning = tune_model(name, train, validator, budget=args.budget, seed=seed)
            fit_seconds.setdefault(name, []).append(time.perf_counter() - started)
            evaluation = evaluate(tuning.best_model, train, [test_slice], (20,), seed=seed, n_bootstrap=0,
                                  beyond=False)
            score = evaluation.metric(protocol, METRIC).mean
            results.setdefault((name, protocol), []).append(score)
            if args.record:
                record_tuning(tuning, dataset_key, protocol, seed)
            print(f"[{protocol} seed {seed}] {name:<10} valid {tuning.best_score:.4f} test {score:.4f} "
                  f"params {tuning.best_params}", file=sys.stderr, flush=True)

    print(f"\nNDCG@20 on {dataset_key}, mean ±std over seeds {args.seeds}, tuned on valid "
          f"(budget {args.budget} trials per model, protocol and seed)\n")
    print("| model | " + " | ".join(protocols) + " | tuning s (mean) |")
    print("|---|" + "---|" * len(protocols) + "---|")
    for name in models:
        cells = [("n/a" if (name, p) in not_applicable else _cell(results.get((name, p), []))) for p in protocols]
        seconds = f"{np.mean(fit_seconds[name]):.1f}" if name in fit_seconds else ""
        print(f"| {get_model_class(name).label} (`{name}`) | " + " | ".join(cells) + f" | {seconds} |")
    print()
    for protocol in protocols:
        scored = {m: np.mean(v) for (m, p), v in results.items() if p == protocol}
        if scored and protocol in REFERENCE_BARS:
            best = max(scored, key=scored.get)
            verdict = "meets" if scored[best] >= REFERENCE_BARS[protocol] else "misses"
            print(f"{protocol}: best {best} {scored[best]:.3f} {verdict} the bar {REFERENCE_BARS[protocol]:.3f}")
    for name, references in LIBRARY_COUNTERPARTS.items():
        for protocol, reference, library in references:
            if (name, protocol) in results:
                ours = float(np.mean(results[(name, protocol)]))
                verdict = "at least as good as" if ours >= reference else "below"
                print(f"{protocol}: {name} {ours:.3f} is {verdict} {library} {reference:.3f}")
    for (name, protocol), reason in sorted(not_applicable.items()):
        print(f"n/a {name} on {protocol}: {reason}")
    if missing:
        print(f"not registered (skipped): {', '.join(missing)}")


if __name__ == "__main__":
    main()
