"""Issue 15's bar on unlike data: on every kind of data the generator makes, auto with its default settings (no
tuning) against each single model that serves the protocol tuned with the same budget (16 trials on the validation
slice, scored once on test), and content against hybrid MF on the tag-vocabulary kind.

Auto chooses and each single model is tuned on the validation slices only; test figures are printed after, for
this table. Means of NDCG@20 on the protocol's test slice over the split seeds.

    nice -n 10 .venv/bin/python benchmarks/kinds_bar.py                                   # every kind, seeds 1,2,3
    nice -n 10 .venv/bin/python benchmarks/kinds_bar.py --kinds tags --seeds 1 --budget 4
    nice -n 10 .venv/bin/python benchmarks/kinds_bar.py --models ""                       # auto alone
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.protocol_cases import protocol_cases  # noqa: E402
from engine.core.model import FitContext  # noqa: E402
from engine.data.synthetic_kinds import DATA_KINDS, generate_kind  # noqa: E402
from engine.metrics.evaluation import evaluate, reason_not_served  # noqa: E402
from engine.models.auto import DEFAULT_CANDIDATES  # noqa: E402
from engine.models.registry import create_model, get_model_class  # noqa: E402
from engine.runs.tuning import DEFAULT_TRIALS, TuningBudget, tune_model  # noqa: E402

METRIC = "ndcg@20"
SIZES = (1_000, 1_500, 25_000)
"""users, items and interactions of each kind: small enough for 16 trials of every model on two cores."""
WITHIN = 0.05
"""Auto passes where its mean is at least (1 - WITHIN) times the best tuned single model's."""


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kinds", default=",".join(DATA_KINDS), help="generator kinds, comma-separated")
    parser.add_argument("--protocol", default="cold-item")
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--budget", type=int, default=DEFAULT_TRIALS, help="tuning trials per single model")
    parser.add_argument("--trial-seconds", type=float, default=30.0, help="cap on one trial's training")
    parser.add_argument("--models", default=",".join(DEFAULT_CANDIDATES),
                        help="single models tuned (those that cannot serve the protocol are skipped)")
    parser.add_argument("--threads", type=int, default=2)
    return parser.parse_args()


def _test_score(model, case) -> float:
    result = evaluate(model, case.train, [case.test_slice], (20,), seed=case.seed, n_bootstrap=0, beyond=False)
    return float(result.metric(case.test_slice.name, METRIC).mean)


def _kind_row(kind: str, args: argparse.Namespace) -> dict[str, list[float]]:
    """Per model, its test score on each seed: auto with defaults, the others tuned."""
    scores: dict[str, list[float]] = {}
    budget = TuningBudget(trials=args.budget, trial_seconds=args.trial_seconds)
    dataset = generate_kind(kind, *SIZES, seed=0)
    for case in protocol_cases(dataset, args.protocol, [int(s) for s in args.seeds.split(",")], METRIC):
        started = time.perf_counter()
        auto = create_model("auto", seed=case.seed).fit(case.train, FitContext(validator=case.validator))
        scores.setdefault("auto", []).append(_test_score(auto, case))
        print(f"[{kind} seed {case.seed}] auto (defaults) test {scores['auto'][-1]:.4f} "
              f"({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
        for name in filter(None, args.models.split(",")):
            if reason_not_served(get_model_class(name), case.train, case.test_slice) is not None:
                continue
            started = time.perf_counter()
            tuning = tune_model(name, case.train, case.validator, budget=budget, seed=case.seed)
            scores.setdefault(name, []).append(_test_score(tuning.best_model, case))
            print(f"[{kind} seed {case.seed}] {name} tuned: valid {tuning.best_score:.4f} test {scores[name][-1]:.4f} "
                  f"({time.perf_counter() - started:.0f} s, {len(tuning.trials)} trials)", file=sys.stderr, flush=True)
    return scores


def main() -> None:
    args = _arguments()
    torch.set_num_threads(args.threads)
    print(f"| kind | auto (defaults) | best single model, tuned ({args.budget} trials) | auto / best | within "
          f"{WITHIN:.0%} | content | hybrid MF |")
    print("|---|---|---|---|---|---|---|")
    for kind in args.kinds.split(","):
        means = {name: float(np.mean(values)) for name, values in _kind_row(kind, args).items()}
        singles = {name: mean for name, mean in means.items() if name != "auto"}
        if not singles:
            print(f"| {kind} | {means['auto']:.4f} | - | - | - | - | - |", flush=True)
            continue
        best = max(singles, key=singles.get)
        ratio = means["auto"] / singles[best]
        print(f"| {kind} | {means['auto']:.4f} | {best} {singles[best]:.4f} | {ratio:.3f} | "
              f"{'yes' if ratio >= 1 - WITHIN else 'no'} | {means.get('content', float('nan')):.4f} | "
              f"{means.get('hybridmf', float('nan')):.4f} |", flush=True)


if __name__ == "__main__":
    main()
