"""What idle OpenMP threads should do while they wait, timed on the product's own fits: libgomp's default (spin a
while, then sleep), spin (ACTIVE), sleep at once (PASSIVE), or spin briefly (GOMP_SPINCOUNT).

`engine/__init__.py` sets a default for every process that imports the engine. This script checks that choice where
it matters, the product's own fits with torch's default threads (one per core): each round runs the Home page demo's
five models (`engine.jobs.demo.DemoPlan`: a synthetic shop, the few-shot new-user protocol) in a fresh interpreter
per policy, the policies in rotating order, and prints wall and CPU seconds per model and policy (median over
rounds). Whether spinning pays depends on what else wants the cores, so `--busy N` runs N CPU-bound processes
beside the fits (standing in for the app, the browser and other runs); 0 measures the machine as it is.
Optionally larger fits (`--ml100k`): hybrid MF and DeepFM on MovieLens 100K, warm, a few epochs.

    .venv/bin/python benchmarks/thread_policy.py [--rounds 3] [--ml100k] [--busy 2]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
POLICIES: dict[str, dict[str, str]] = {
    "libgomp default": {"OMP_WAIT_POLICY": ""},  # set, so the engine's default does not apply; libgomp ignores ""
    "ACTIVE": {"OMP_WAIT_POLICY": "ACTIVE"},
    "PASSIVE": {"OMP_WAIT_POLICY": "PASSIVE"},
    "spin 10k": {"OMP_WAIT_POLICY": "", "GOMP_SPINCOUNT": "10000"},
}
"""The environment of each policy's interpreter. libgomp's default spins 300,000 rounds (about a millisecond)
before it sleeps; 10,000 rounds is a few tens of microseconds."""
BASELINE = "libgomp default"


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
    env = {**os.environ, **POLICIES[policy]}
    env.pop("OMP_NUM_THREADS", None)  # torch's default: a thread per core, as a run's child on a 1-slot machine
    if "GOMP_SPINCOUNT" not in POLICIES[policy]:
        env.pop("GOMP_SPINCOUNT", None)
    command = [sys.executable, __file__, "--child"] + (["--ml100k"] if ml100k else [])
    output = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    rows = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    return {row["case"]: (row["wall"], row["cpu"]) for row in rows}


def _spin() -> None:
    """A CPU-bound competitor: another process that wants a core the whole time."""
    while True:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--ml100k", action="store_true", help="also fit hybrid MF and DeepFM on MovieLens 100K")
    parser.add_argument("--busy", type=int, default=0, help="CPU-bound processes to run beside the fits")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.ml100k)
        return
    competitors = [multiprocessing.Process(target=_spin, daemon=True) for _ in range(args.busy)]
    for competitor in competitors:
        competitor.start()
    print(f"{os.cpu_count()} cores, {args.busy} CPU-bound processes beside the fits; "
          f"load average before: {os.getloadavg()[0]:.1f}")
    names = list(POLICIES)
    results: dict[str, list[dict[str, tuple[float, float]]]] = {name: [] for name in names}
    try:
        for number in range(args.rounds):
            for policy in names[number % len(names):] + names[:number % len(names)]:  # no policy always first
                results[policy].append(_round(policy, args.ml100k))
    finally:
        for competitor in competitors:
            competitor.terminate()
    print(f"load average after: {os.getloadavg()[0]:.1f}; median of {args.rounds} rounds, seconds (wall / CPU)")

    def median(policy: str, case: str, column: int) -> float:
        return statistics.median(run[case][column] for run in results[policy])

    cases = list(results[BASELINE][0])
    print(f"{'case':18} " + " ".join(f"{name:>17}" for name in names)
          + "   " + " ".join(f"{name + ' vs default':>20}" for name in names if name != BASELINE))
    for case in cases + ["all"]:
        chosen = cases if case == "all" else [case]
        walls = {name: sum(median(name, c, 0) for c in chosen) for name in names}
        cpus = {name: sum(median(name, c, 1) for c in chosen) for name in names}
        cells = " ".join(f"{walls[name]:7.2f} / {cpus[name]:6.2f}" for name in names)
        ratios = " ".join(f"{walls[BASELINE] / walls[name]:19.2f}x" for name in names if name != BASELINE)
        print(f"{case:18} {cells}   {ratios}")


if __name__ == "__main__":
    main()
