"""Overhead of the job system per run: queue to start, and finish to results visible, over 20 tiny runs.

Starts a real supervisor on a throwaway data folder, then submits tiny MostPopular runs one at a time (each after
the previous one is visible as done, with a short pause as a person would leave) and reads the timestamps the
runs left in the database:

  queue -> claimed   submit until a supervisor claimed the run (status "running")
  queue -> started   submit until the run's own process logged its first line (data loading begins)
  finish -> visible  end of evaluation until a reader of the database sees the run "done" with its results
                     (saving the model, the final transaction, and this script's 20 ms polling)

Usage: .venv/bin/python benchmarks/jobs.py [--runs 20] [--pause 3.0]
"""

from __future__ import annotations

import argparse
import itertools
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

if TYPE_CHECKING:
    from engine.store.tables import RunRow


def _summary(name: str, values: list[float]) -> str:
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]
    return (f"{name:<18} median {statistics.median(values):6.3f} s   p90 {p90:6.3f} s   max {max(values):6.3f} s   "
            f"(n={len(values)})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--pause", type=float, default=3.0, help="seconds between a run finishing and the next")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="coldstart-bench-jobs-"))
    os.environ["COLDSTART_HOME"] = str(home)
    os.environ.pop("DATABASE_URL", None)

    from engine.data.catalog import save_dataset
    from engine.data.synthetic import generate_synthetic
    from engine.runs.experiments import create_experiment
    from engine.jobs.liveness import live_workers
    from engine.jobs.queue import get_run, run_events, submit_runs
    from engine.store.tables import utcnow

    dataset_id = save_dataset(generate_synthetic(n_users=60, n_items=40, n_interactions=600, seed=0), "bench",
                              "synthetic")
    experiment = create_experiment(dataset_id, "warm", None, 0, name="bench")
    supervisor = subprocess.Popen([sys.executable, "-m", "engine.jobs.supervisor"], cwd=ROOT,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        while not live_workers():
            time.sleep(0.1)

        seeds = itertools.count()

        def run_once() -> tuple[int, RunRow, datetime]:
            (run_id,) = submit_runs(experiment, "mostpop", seeds=[next(seeds)])  # an identical run would be refused
            while (row := get_run(run_id)).status in ("queued", "running"):
                time.sleep(0.02)
            seen = utcnow()
            if row.status != "done":
                raise SystemExit(f"run {run_id} ended {row.status}: {row.error}")
            return run_id, row, seen

        run_once()  # warm-up: the first interpreter and the first database pages
        claimed, started, visible, device = [], [], [], ""
        for _ in range(args.runs):
            time.sleep(args.pause)
            run_id, row, seen = run_once()
            events = run_events([run_id])
            logs = events[events["kind"] == "log"]
            first = logs["at"].iloc[0]
            evaluated = logs[logs["message"].str.startswith("saving the model")]["at"].iloc[0]
            claimed.append((row.started_at - row.created_at).total_seconds())
            started.append((first - row.created_at).total_seconds())
            visible.append((seen - evaluated).total_seconds())
            device = row.device
    finally:
        os.killpg(supervisor.pid, signal.SIGTERM)
        supervisor.wait(timeout=30)
    print(f"job overhead per run, {args.runs} tiny MostPopular runs one after another, device {device}, "
          f"{os.cpu_count()} CPUs")
    print(_summary("queue -> claimed", claimed))
    print(_summary("queue -> started", started))
    print(_summary("finish -> visible", visible))
    return 0


if __name__ == "__main__":
    sys.exit(main())
