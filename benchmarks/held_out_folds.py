"""Auto with and without held-out folds, on generator splits outside the bars' seeds: does counting folds of
training items held out as new choose better for new items?

Each kind of `generate_kind` (1,000 users x 1,500 items, 25,000 rows), cold-item, per split seed: auto with its
defaults but `held_out_folds` set to each value, test NDCG@20, and what it used for new items. Seeds 11-14 by
default, so the issue-15 bar (seeds 1-3, `benchmarks/kinds_bar.py`) plays no part in the choice.

    nice -n 5 .venv/bin/python benchmarks/held_out_folds.py                      # about 25 minutes on two cores
    nice -n 5 .venv/bin/python benchmarks/held_out_folds.py --kinds genres --seeds 11 --folds 0,3,5
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.kinds_bar import METRIC, SIZES  # noqa: E402
from benchmarks.protocol_cases import protocol_cases  # noqa: E402
from engine.core.model import FitContext  # noqa: E402
from engine.data.synthetic_kinds import DATA_KINDS, generate_kind  # noqa: E402
from engine.metrics.evaluation import evaluate  # noqa: E402
from engine.models.registry import create_model  # noqa: E402

NEW_ITEMS = "known users, new items"


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kinds", default=",".join(DATA_KINDS))
    parser.add_argument("--seeds", default="11,12,13,14")
    parser.add_argument("--folds", default="0,3", help="held_out_folds values compared; the first is the baseline")
    parser.add_argument("--threads", type=int, default=1)
    return parser.parse_args()


def main() -> None:
    args = _arguments()
    torch.set_num_threads(args.threads)
    folds = [int(n) for n in args.folds.split(",")]
    scores: dict[int, list[float]] = {n: [] for n in folds}
    print("| kind | seed | " + " | ".join(f"{n} folds: test, used" for n in folds) + " |")
    print("|---|---|" + "---|" * len(folds))
    for kind in args.kinds.split(","):
        dataset = generate_kind(kind, *SIZES, seed=0)
        for case in protocol_cases(dataset, "cold-item", [int(s) for s in args.seeds.split(",")], METRIC):
            cells = []
            for n in folds:
                auto = create_model("auto", {"held_out_folds": n}, seed=case.seed).fit(
                    case.train, FitContext(validator=case.validator))
                result = evaluate(auto, case.train, [case.test_slice], (20,), seed=case.seed, n_bootstrap=0,
                                  beyond=False)
                scores[n].append(float(result.metric(case.test_slice.name, METRIC).mean))
                used = " + ".join(f"{w:g} {name}" for name, w in auto.choice["kinds"][NEW_ITEMS]["use"].items())
                cells.append(f"{scores[n][-1]:.4f}, {used}")
            print(f"| {kind} | {case.seed} | " + " | ".join(cells) + " |", flush=True)
    baseline = np.asarray(scores[folds[0]])
    for n in folds[1:]:
        gain = np.asarray(scores[n]) - baseline
        print(f"\n{n} folds - {folds[0]} folds: mean {gain.mean():+.4f} (standard error "
              f"{gain.std(ddof=1) / np.sqrt(len(gain)):.4f}) over {len(gain)} kind x seed cases; "
              f"{(gain > 0).sum()} better, {(gain < 0).sum()} worse, {(gain == 0).sum()} the same")


if __name__ == "__main__":
    main()
