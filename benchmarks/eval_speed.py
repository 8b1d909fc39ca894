"""How fast and how lean full-ranking evaluation is: prints seconds at ML-1M size and peak memory at 100k x 50k.

A 64-factor dot-product model is scored against every item for every test user (no sampled negatives), with every
metric of the evaluator (accuracy at K = 10, 20, 50, AUC, coverage, popularity, novelty, diversity over item
attributes, bootstrap intervals). Targets on a 2-core machine: under 2 s at 6,040 users x 3,706 items, under 2 GB
peak memory at 100,000 users x 50,000 items. The large case runs in a child process so its peak is its own.

    .venv/bin/python benchmarks/eval_speed.py [--skip-large] [--device auto|cpu|cuda]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.core.data import ItemQuery, TrainData, UserQuery
from engine.core.features import FeatureMatrix  # noqa: E402
from engine.core.model import Capabilities, FitContext, ModelConfig, Recommender  # noqa: E402
from engine.metrics.evaluation import evaluate  # noqa: E402
from engine.protocols.split import EvalSlice  # noqa: E402
from engine.training.device import describe_device, pick_device  # noqa: E402

FACTORS = 64
KS = (10, 20, 50)


class DotProductConfig(ModelConfig):
    """No hyper-parameters: the factors are random, only the cost of scoring matters here."""


class DotProduct(Recommender):
    """Scores = user factors . item factors, on the chosen device."""

    name = "bench_dot"
    label = "DotProduct"
    family = "factorization"
    Config = DotProductConfig
    capabilities = Capabilities()

    def __init__(self, users: torch.Tensor, items: torch.Tensor) -> None:
        super().__init__(None, 0)
        self.user_factors, self.item_factors = users, items

    def _fit(self, data: TrainData, context: FitContext) -> None:
        """The factors are given."""

    def score(self, users: UserQuery, items: ItemQuery) -> torch.Tensor:
        """One matrix product per batch."""
        device = self.user_factors.device
        return self.user_factors[torch.as_tensor(users.index, device=device)] @ \
            self.item_factors[torch.as_tensor(items.index, device=device)].T


def synthetic_case(n_users: int, n_items: int, train_per_user: int, test_per_user: int, device: torch.device,
                   seed: int = 0) -> tuple[DotProduct, TrainData, EvalSlice]:
    """Random factors, a popularity-skewed training matrix and held-out positives, item genres as attributes."""
    rng = np.random.default_rng(seed)
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.8
    popularity /= popularity.sum()
    per_user = train_per_user + test_per_user
    # inverse-CDF sampling, vectorised; a repeated pair is rare and the evaluator excludes it like any seen item
    items = np.minimum(np.searchsorted(np.cumsum(popularity), rng.random((n_users, per_user))), n_items - 1)
    users = np.repeat(np.arange(n_users), per_user).reshape(n_users, per_user)
    user_ids = np.asarray([f"u{i}" for i in range(n_users)], dtype=object)
    item_ids = np.asarray([f"i{i}" for i in range(n_items)], dtype=object)
    train_u, train_i = users[:, :train_per_user].ravel(), items[:, :train_per_user].ravel()
    matrix = sp.csr_matrix((np.ones(len(train_u), np.float32), (train_u, train_i)), shape=(n_users, n_items))
    genres = sp.csr_matrix((np.ones(n_items * 2, np.float32),
                            (np.repeat(np.arange(n_items), 2), rng.integers(0, 18, n_items * 2))), shape=(n_items, 18))
    features = FeatureMatrix(item_ids, genres, [f"genre={g}" for g in range(18)], np.zeros(18, dtype=np.int64),
                             ["genres"])
    train = TrainData(user_ids, item_ids, matrix, pd.DataFrame(), item_features=features)
    truth = pd.DataFrame({"user_id": user_ids[users[:, train_per_user:].ravel()],
                          "item_id": item_ids[items[:, train_per_user:].ravel()], "weight": 1.0})
    evaluation_slice = EvalSlice("warm", truth, item_ids, candidate_rule="training items")
    model = DotProduct(torch.randn(n_users, FACTORS, generator=torch.Generator().manual_seed(seed)).to(device),
                       torch.randn(n_items, FACTORS, generator=torch.Generator().manual_seed(seed + 1)).to(device))
    model.user_ids, model.item_ids = user_ids, item_ids
    return model, train, evaluation_slice


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(n_users: int, n_items: int, train_per_user: int, test_per_user: int, device: torch.device,
            repeats: int) -> dict:
    """Build the case, then time `evaluate` (best of `repeats`) and report the process's peak memory."""
    model, train, evaluation_slice = synthetic_case(n_users, n_items, train_per_user, test_per_user, device)
    before = peak_rss_mb()
    seconds, cpu_seconds = [], []
    for _ in range(repeats):
        started, cpu_started = time.perf_counter(), time.process_time()
        result = evaluate(model, train, [evaluation_slice], KS)
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds.append(time.perf_counter() - started)
        cpu_seconds.append(time.process_time() - cpu_started)
    ndcg = result.metric("warm", "ndcg@20")
    return {"users": n_users, "items": n_items, "device": describe_device(device), "seconds": min(seconds),
            "all_seconds": [round(s, 3) for s in seconds], "cpu_seconds": round(min(cpu_seconds), 3), "peak_rss_mb_before_eval": round(before, 1),
            "peak_rss_mb": round(peak_rss_mb(), 1), "metrics": len(result.slices["warm"]),
            "ndcg@20": round(ndcg.mean, 5), "n_users": ndcg.n_users}


def main() -> None:
    """Print the ML-1M-size timing, then the large case's peak memory measured in a child process."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-large", action="store_true", help="only the ML-1M-size timing")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--case", choices=["ml1m", "large"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    if args.case == "large":
        print(json.dumps(measure(100_000, 50_000, 20, 5, device, repeats=1)))
        return
    small = measure(6_040, 3_706, 150, 15, device, repeats=3)
    # wall time suffers when other processes share the cores; CPU time shows the work itself
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"ML-1M size: {small['users']:,} users x {small['items']:,} items, {small['metrics']} metrics at K = "
          f"{', '.join(map(str, KS))} on {small['device']}: {small['seconds']:.2f} s wall (runs "
          f"{small['all_seconds']}), {small['cpu_seconds']:.2f} s CPU over {args.threads} threads; load average "
          f"{load}; target < 2 s")
    if args.skip_large:
        return
    done = subprocess.run([sys.executable, __file__, "--case", "large", "--device", args.device,
                           "--threads", str(args.threads)], capture_output=True, text=True, check=True)
    large = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"100k x 50k: {large['users']:,} users x {large['items']:,} items on {large['device']}: peak memory "
          f"{large['peak_rss_mb']:,.0f} MiB (of which {large['peak_rss_mb_before_eval']:,.0f} MiB before evaluating: "
          f"interpreter, data, model); evaluation {large['seconds']:.1f} s; target < 2 GB")


if __name__ == "__main__":
    main()
