"""Issue 4's parity check: each re-implemented idea against its library counterpart, NDCG@20 on MovieLens 100K.

Same protocol as `zoo_table.py`: positives are ratings >= 4; splits by `engine.protocols.make_split`; for each
protocol and seed both models of a pair are tuned by `engine.runs.tuning.tune_model` on the validation slice with the
same trial budget, and the best configuration is scored once on the test slice named like the protocol. The
libraries run through the adapters of `benchmarks/library_models.py`, so both sides see the same split, candidates,
tie order and metric code. The difference is paired user by user (`engine.metrics.statistics.paired_comparison`):
test users are pooled over seeds, with a bootstrap 95% interval and Wilcoxon's signed-rank test.

Pairs (by the library model's key): implicit_als (our `als`, warm), implicit_bpr (`bpr`, warm), lightfm (ids and
attributes; `hybridmf`, warm and cold-user), lightfm_features (items by attributes only; our hybrid MF pinned to the
same item representation, `hybridmf_features`, cold-item).

Needs the benchmark-only libraries: `.venv/bin/pip install -r requirements-bench.txt`.

    .venv/bin/python benchmarks/library_parity.py                         # seeds 1,2,3; budget 16; all pairs
    .venv/bin/python benchmarks/library_parity.py --seeds 1 --budget 4 --pairs implicit_als --threads 1
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ["COLDSTART_EXTRA_MODELS"] = ",".join(
    m for m in [*os.environ.get("COLDSTART_EXTRA_MODELS", "").split(","), "benchmarks.library_models"] if m.strip())

from benchmarks.library_models import INSTALL_HINT, THREADS_ENV, missing_libraries  # noqa: E402
from benchmarks.protocol_cases import servable_cases, table_arguments, table_seeds  # noqa: E402
from engine.data.canonical import read_canonical_folder  # noqa: E402
from engine.data.indexing import dataset_features  # noqa: E402
from engine.metrics.evaluation import evaluate  # noqa: E402
from engine.metrics.statistics import paired_comparison  # noqa: E402
from engine.models.registry import get_model_class  # noqa: E402
from engine.runs.tuning import DEFAULT_TRIALS as DEFAULT_BUDGET, tune_model  # noqa: E402

METRIC = "ndcg@20"
PROTOCOLS = ["cold-item", "cold-user", "warm"]


@dataclass(frozen=True)
class Pair:
    """Our model and its library counterpart, compared on these protocols (each on its own test slice)."""

    ours: str
    library: str
    protocols: tuple[str, ...]


PAIRS = {
    "implicit_als": Pair("als", "implicit_als", ("warm",)),
    "implicit_bpr": Pair("bpr", "implicit_bpr", ("warm",)),
    "lightfm": Pair("hybridmf", "lightfm", ("warm", "cold-user")),
    "lightfm_features": Pair("hybridmf_features", "lightfm_features", ("cold-item",)),
}


@dataclass
class Scored:
    """One model tuned and tested on one protocol and seed."""

    test_mean: float
    per_user: pd.Series
    """Per-user test NDCG@20 indexed by user id (NaN: no held-out positive among the candidates)."""
    valid: float
    params: dict
    seconds: float


def _arguments() -> argparse.Namespace:
    parser = table_arguments(__doc__, PROTOCOLS,
                             threads_help="CPU threads for torch and for the libraries alike (1 on a busy machine)")
    parser.add_argument("--budget", type=int, default=DEFAULT_BUDGET, help="tuning trials per model, protocol, seed")
    parser.add_argument("--pairs", default=",".join(PAIRS),
                        help=f"pairs by library model, comma-separated (default all: {', '.join(PAIRS)})")
    return parser.parse_args()


def _score(name: str, train, validator, test_slice, budget: int, seed: int) -> Scored:
    """Tune `name` on valid, then score the best configuration once on the test slice."""
    started = time.perf_counter()
    tuning = tune_model(name, train, validator, budget=budget, seed=seed)
    seconds = time.perf_counter() - started
    evaluation = evaluate(tuning.best_model, train, [test_slice], (20,), seed=seed, n_bootstrap=0, beyond=False)
    per_user = evaluation.per_user.loc[evaluation.per_user["slice"] == test_slice.name]
    return Scored(float(evaluation.metric(test_slice.name, METRIC).mean),
                  per_user.set_index("user_id")[METRIC].astype(float), tuning.best_score, tuning.best_params, seconds)


def _spread(values: list[float]) -> str:
    return f"{np.mean(values):.4f}" + (f" ±{np.std(values):.4f}" if len(values) > 1 else "")


def _verdict(low: float, high: float) -> str:
    if low > 0:
        return "ours better"
    if high < 0:
        return "library better"
    return "no clear difference"


def main() -> None:
    args = _arguments()
    pairs = [PAIRS[key] for key in args.pairs.split(",") if key in PAIRS]
    unknown = [key for key in args.pairs.split(",") if key not in PAIRS]
    if unknown or not pairs:
        print(f"unknown pair(s) {', '.join(unknown) or '(none given)'}; known: {', '.join(PAIRS)}", file=sys.stderr)
        sys.exit(2)
    missing = missing_libraries([pair.library for pair in pairs])
    if missing:
        print(f"library parity skipped: {', '.join(missing)} not installed. These benchmark-only libraries are listed "
              f"in requirements-bench.txt: {INSTALL_HINT}")
        return
    os.environ[THREADS_ENV] = str(args.threads)
    seeds = table_seeds(args)
    protocols = [p for p in args.protocols.split(",") if any(p in pair.protocols for pair in pairs)]
    dataset = read_canonical_folder(args.data)
    dataset_key = Path(args.data).name
    features = dataset_features(dataset)
    scored: dict[tuple[str, str, int], Scored] = {}
    not_applicable: dict[tuple[str, str], str] = {}
    for protocol in protocols:
        models = list(dict.fromkeys(name for pair in pairs if protocol in pair.protocols
                                    for name in (pair.ours, pair.library)))
        for case, name in servable_cases(dataset, protocol, seeds, METRIC, models, not_applicable, features):
            seed = case.seed
            result = _score(name, case.train, case.validator, case.test_slice, args.budget, seed)
            scored[(name, protocol, seed)] = result
            print(f"[{protocol} seed {seed}] {name:<17} valid {result.valid:.4f} test {result.test_mean:.4f} "
                  f"tuning {result.seconds:.0f} s params {result.params}", file=sys.stderr, flush=True)

    print(f"\n{METRIC.upper()} on {dataset_key}: ours vs library, tuned on valid (budget {args.budget} trials per "
          f"model, protocol and seed), seeds {args.seeds}, {args.threads} thread(s) each")
    print("means ±std over seeds; difference = ours - library per test user, users pooled over seeds, "
          "paired bootstrap 95% CI (engine.metrics.statistics.paired_comparison)\n")
    print("| slice | ours | library | ours NDCG@20 | library NDCG@20 | difference | 95% CI | Wilcoxon p | users "
          "| verdict |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for pair in pairs:
        for protocol in (p for p in pair.protocols if p in protocols):
            labels = [f"{get_model_class(n).label} (`{n}`)" for n in (pair.ours, pair.library)]
            reasons = [not_applicable.get((n, protocol)) for n in (pair.ours, pair.library)]
            if any(reasons):
                print(f"| {protocol} | {labels[0]} | {labels[1]} | n/a: {'; '.join(r for r in reasons if r)} "
                      "| | | | | | |")
                continue
            runs = [[scored[(n, protocol, seed)] for seed in seeds] for n in (pair.ours, pair.library)]
            pooled = [pd.concat({seed: run.per_user for seed, run in zip(seeds, side)}) for side in runs]
            paired = paired_comparison(pooled[0], pooled[1])
            low, high = paired.ci
            print(f"| {protocol} | {labels[0]} | {labels[1]} | {_spread([r.test_mean for r in runs[0]])} | "
                  f"{_spread([r.test_mean for r in runs[1]])} | {paired.mean_difference:+.4f} | "
                  f"[{low:+.4f}, {high:+.4f}] | {paired.p_value:.2g} | {paired.n_users} | {_verdict(low, high)} |")
    print()
    for name in dict.fromkeys(n for pair in pairs for n in (pair.ours, pair.library)):
        seconds = [r.seconds for (n, _, _), r in scored.items() if n == name]
        if seconds:
            print(f"tuning seconds per protocol and seed, {name}: {np.mean(seconds):.0f} (mean of {len(seconds)})")


if __name__ == "__main__":
    main()
