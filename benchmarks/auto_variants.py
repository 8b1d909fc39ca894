"""Auto with one set of settings against others, on development splits: does a change to auto choose better?

Per case (a kind of data x protocol x split seed; seeds 11-14 by default, so the bars' seeds, 1-3 and the reference
splits' 42, 1, 2, play no part) every variant of auto is fitted on the split's training part, validated as auto
validates, and scored once on test (NDCG@20 of the protocol's slice); the table says what each variant used for the
protocol's kind and how long it took to fit. Then each variant minus the first, paired by case.

    nice -n 5 .venv/bin/python benchmarks/auto_variants.py --protocols cold-item --variants '{"held_out_folds": 0}' '{}'
    nice -n 5 .venv/bin/python benchmarks/auto_variants.py --kinds ml-100k,genres --protocols cold-item \\
        --variants '{}' '{"extra_candidates": ["twotower"]}'

A variant is auto's settings as JSON; `extra_candidates` adds models to its default candidates.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.blend_gate import KIND_OF_PROTOCOL, dataset_of_kind, test_score  # noqa: E402
from benchmarks.kinds_bar import METRIC  # noqa: E402
from benchmarks.protocol_cases import protocol_cases  # noqa: E402
from engine.core.model import FitContext  # noqa: E402
from engine.data.synthetic_kinds import DATA_KINDS  # noqa: E402
from engine.models.auto import DEFAULT_CANDIDATES  # noqa: E402
from engine.models.registry import create_model  # noqa: E402


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kinds", default=",".join(DATA_KINDS),
                        help="generator kinds, and ml-100k for MovieLens 100K split at the same development seeds")
    parser.add_argument("--protocols", default="cold-item")
    parser.add_argument("--seeds", default="11,12,13,14")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--variants", nargs="+", type=json.loads, default=[{"held_out_folds": 0}, {}],
                        help="auto's settings as JSON, one per variant; the first is the baseline")
    return parser.parse_args()


def settings_of(variant: dict) -> dict:
    """Auto's settings for a variant: `extra_candidates` appended to the default candidates."""
    settings = {key: value for key, value in variant.items() if key != "extra_candidates"}
    if "extra_candidates" in variant:
        settings["candidates"] = [*DEFAULT_CANDIDATES, *variant["extra_candidates"]]
    return settings


def main() -> None:
    args = _arguments()
    torch.set_num_threads(args.threads)
    labels = [json.dumps(variant) for variant in args.variants]
    scores: list[list[float]] = [[] for _ in args.variants]
    print("| kind | protocol | seed | " + " | ".join(f"{label}: test, used (fit s)" for label in labels) + " |")
    print("|---|---|---|" + "---|" * len(labels))
    for kind in args.kinds.split(","):
        dataset = dataset_of_kind(kind)
        for protocol in args.protocols.split(","):
            serving_kind = KIND_OF_PROTOCOL[protocol]
            for case in protocol_cases(dataset, protocol, [int(s) for s in args.seeds.split(",")], METRIC):
                cells = []
                for column, variant in enumerate(args.variants):
                    started = time.perf_counter()
                    auto = create_model("auto", settings_of(variant), seed=case.seed).fit(
                        case.train, FitContext(validator=case.validator))
                    seconds = time.perf_counter() - started
                    scores[column].append(test_score(auto, case))
                    used = " + ".join(f"{w:g} {name}" for name, w in auto.choice["kinds"][serving_kind]["use"].items())
                    cells.append(f"{scores[column][-1]:.4f}, {used} ({seconds:.0f})")
                print(f"| {kind} | {protocol} | {case.seed} | " + " | ".join(cells) + " |", flush=True)
    baseline = np.asarray(scores[0])
    print(f"\nmean test {METRIC}: " + ", ".join(f"{label} {np.mean(s):.4f}" for label, s in zip(labels, scores)))
    for label, variant_scores in zip(labels[1:], scores[1:]):
        gain = np.asarray(variant_scores) - baseline
        error = gain.std(ddof=1) / np.sqrt(len(gain)) if len(gain) > 1 else float("nan")
        print(f"{label} - {labels[0]}: mean {gain.mean():+.4f} (standard error {error:.4f}) over {len(gain)} cases; "
              f"{(gain > 0).sum()} better, {(gain < 0).sum()} worse, {(gain == 0).sum()} the same")


if __name__ == "__main__":
    main()
