"""What idle OpenMP threads should do while they wait, timed on the product's own fits: libgomp's default (spin a
while, then sleep), spin (ACTIVE) or sleep (PASSIVE).

`engine/__init__.py` makes PASSIVE the default of every process that imports the engine. This script checks that
choice where it matters, the product's own fits with torch's default threads (one per core): each round runs the
demo's five models (`engine.jobs.demo.DemoPlan`: a synthetic shop, the few-shot new-user protocol) in a fresh
interpreter per policy, alternating which policy goes first, and prints wall and CPU seconds per model and policy
(median over rounds) with the load average, since the difference is what other work on the machine makes of it.
Optionally a larger fit (`--ml100k`): hybrid MF and DeepFM on MovieLens 100K, warm, a few epochs.

    .venv/bin/python benchmarks/thread_policy.py [--rounds 3] [--ml100k]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
POLICIES = ("unset", "ACTIVE", "PASSIVE")
"""unset: libgomp's own default (spin a while, then sleep), what the product ran with before."""


def _child(ml100k: bool) -> None:
    """Fit and evaluate each model, print one JSON line per model: wall and CPU seconds."""
    sys.path.insert(0, str(ROOT))
    from engine.data.synthetic import generate_synthetic
    from engine.jobs.demo import DemoPlan
    from engine.runs.protocol_catalog import make_split
    from engine.runs.runner import fit_and_evaluate

    plan = DemoPlan()
    cases = [("demo", generate_synthetic(plan.n_users, plan.n_items, plan.n_interactions, plan.seed), plan.protocol,
              plan.models)]
    if ml100k:
        from engine.data.canonical import read_canonical_folder
        from tests.shared_data import ML100K

        cases.append(("ml-100k", read_canonical_folder(ML100K), "warm",
                      {"hybridmf": {"epochs": 3}, "deepfm": {"epochs": 2}}))
    for label, dataset, protocol, models in cases:
        split = make_split(dataset, protocol, 0, {})
        for model, params in models.items():
            wall, cpu = time.perf_counter(), time.process_time()
            fit_and_evaluate(dataset, split, model, params, 0, device="cpu")
            print(json.dumps({"case": f"{label} {model}", "wall": time.perf_counter() - wall,
                              "cpu": time.process_time() - cpu}), flush=True)


def _round(policy: str, ml100k: bool) -> dict[str, tuple[float, float]]:
    env = {**os.environ, "OMP_WAIT_POLICY": policy}
    if policy == "unset":
        env["OMP_WAIT_POLICY"] = ""  # set, so the engine's default does not apply; libgomp ignores an empty one
    env.pop("OMP_NUM_THREADS", None)  # torch's default: a thread per core, as a run's child on a 1-slot machine
    command = [sys.executable, __file__, "--child"] + (["--ml100k"] if ml100k else [])
    output = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    rows = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    return {row["case"]: (row["wall"], row["cpu"]) for row in rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--ml100k", action="store_true", help="also fit hybrid MF and DeepFM on MovieLens 100K")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.ml100k)
        return
    print(f"{os.cpu_count()} cores; load average before: {os.getloadavg()[0]:.1f}")
    results: dict[str, list[dict[str, tuple[float, float]]]] = {policy: [] for policy in POLICIES}
    for number in range(args.rounds):
        order = POLICIES if number % 2 == 0 else POLICIES[::-1]  # neither policy always runs first
        for policy in order:
            results[policy].append(_round(policy, args.ml100k))
    print(f"load average after: {os.getloadavg()[0]:.1f}; median of {args.rounds} rounds, seconds (wall / CPU)")
    cases = list(results[POLICIES[0]][0])
    print(f"{'case':24} " + " ".join(f"{policy:>16}" for policy in POLICIES) + "   wall unset / PASSIVE")
    totals = {policy: 0.0 for policy in POLICIES}
    for case in cases:
        cells = []
        for policy in POLICIES:
            wall = statistics.median(run[case][0] for run in results[policy])
            cpu = statistics.median(run[case][1] for run in results[policy])
            totals[policy] += wall
            cells.append(f"{wall:7.2f} / {cpu:6.2f}")
        ratio = statistics.median(run[case][0] for run in results["unset"]) / \
            statistics.median(run[case][0] for run in results["PASSIVE"])
        print(f"{case:24} " + " ".join(f"{cell:>16}" for cell in cells) + f"   {ratio:5.2f}x")
    print(f"{'total wall':24} " + " ".join(f"{totals[policy]:16.2f}" for policy in POLICIES)
          + f"   {totals['unset'] / totals['PASSIVE']:5.2f}x")


if __name__ == "__main__":
    main()
