"""Issue 14's affordability check: one fit with default settings of every model that serves new items, on
MovieLens 100K's cold-item split, timed; tuning multiplies it by the budget.

Prints per model the fit seconds, its validation NDCG@20 and whether it fits in `--limit` seconds (30 by default:
16 trials in a coffee break). A model over the limit is still tunable: each trial's training stops at the Train
form's per-trial cap (`engine.runs.tuning.DEFAULT_TRIAL_SECONDS`), gradient models keeping their best epoch so far, and
the form says so. Also prints the time-capped fit of those over the limit, so the cost of the cap is visible.

    .venv/bin/python benchmarks/fit_times.py --threads 1
    .venv/bin/python benchmarks/fit_times.py --models mapper,hybridmf --limit 30
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.protocol_cases import protocol_cases  # noqa: E402
from engine.core.model import FitContext  # noqa: E402
from engine.data.canonical import read_canonical_folder  # noqa: E402
from engine.models.registry import create_model, get_model_class, model_names  # noqa: E402
from engine.runs.tuning import DEFAULT_TRIAL_SECONDS  # noqa: E402
from tests.shared_data import ML100K  # noqa: E402

METRIC = "ndcg@20"


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(ML100K))
    parser.add_argument("--seed", type=int, default=1, help="seed of the cold-item split")
    parser.add_argument("--models", help="comma-separated (default: every model that serves new items)")
    parser.add_argument("--limit", type=float, default=30.0, help="seconds a default fit should stay under")
    parser.add_argument("--threads", type=int, default=2)
    return parser.parse_args()


def _fit(name: str, case, seconds: float | None) -> tuple[float, str]:
    """Fit seconds and 'score (slice)': a model that cannot serve new items is validated on the warm slice."""
    model = create_model(name, {}, seed=case.seed)
    started = time.perf_counter()
    model.fit(case.train, FitContext(validator=case.validator, time_budget_s=seconds))
    elapsed = time.perf_counter() - started
    return elapsed, f"{case.validator(model):.4f} ({case.validator.slice_for(model).name})"


def main() -> None:
    args = _arguments()
    torch.set_num_threads(args.threads)
    names = args.models.split(",") if args.models else [
        name for name in model_names()
        if get_model_class(name).capabilities.new_items or get_model_class(name).capabilities.item_fold_in]
    dataset = read_canonical_folder(args.data)
    (case,) = protocol_cases(dataset, "cold-item", [args.seed], METRIC)
    print(f"one fit with default settings on {Path(args.data).name} cold-item seed {args.seed}, {args.threads} "
          f"thread(s); limit {args.limit:g} s\n")
    print(f"| model | fit seconds | valid {METRIC} | within {args.limit:g} s | capped at {DEFAULT_TRIAL_SECONDS:g} s |")
    print("|---|---|---|---|---|")
    for name in names:
        seconds, score = _fit(name, case, None)
        capped = ""
        if seconds > DEFAULT_TRIAL_SECONDS:
            capped_seconds, capped_score = _fit(name, case, DEFAULT_TRIAL_SECONDS)
            capped = f"{capped_seconds:.1f} s, valid {capped_score}"
        print(f"| {name} | {seconds:.1f} | {score} | {'yes' if seconds <= args.limit else 'no'} | {capped} |",
              flush=True)


if __name__ == "__main__":
    main()
