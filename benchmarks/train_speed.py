"""Issue 18's side-by-side: our gradient models against their library counterparts, per epoch, in one process.

Pairs (same data, same vector length, same number of epochs, one thread each, no early stopping):
BPR-MF against implicit's BPR; hybrid MF (WARP, and BPR) against LightFM WARP (BPR) with the same user and item
attributes; two-tower and DeepFM against LightFM WARP with attributes, the nearest library model that serves new
users and items. Seconds per epoch are fit seconds / epochs for both sides (set-up included, one warm-up fit of
each first so that imports and numba's compile are not charged); samples / s are training positives per second.
On MovieLens 100K each fit trains on a warm split's training part and is then scored on its validation slice
(NDCG@20 after the timed epochs: a speed figure's quality check, not a tuned comparison, which
`benchmarks/speed_quality.py` and `benchmarks/library_parity.py` make). Synthetic sets are timed only.

    .venv/bin/python benchmarks/train_speed.py                               # ML-100K and 1M synthetic
    nice .venv/bin/python benchmarks/train_speed.py --sizes 1000000,10000000 --synthetic-epochs 1
    .venv/bin/python benchmarks/train_speed.py --pairs bpr,hybridmf_warp --sizes ""

Needs the benchmark libraries (`.venv/bin/pip install -r requirements-bench.txt`); a pair whose library is
missing is reported, not fatal.
"""

from __future__ import annotations

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # before numpy loads its BLAS
    os.environ.setdefault(_variable, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.library_models import (THREADS_ENV, ImplicitBPR, LightFMHybrid,  # noqa: E402
                                       missing_libraries)
from benchmarks.protocol_cases import protocol_cases  # noqa: E402
from engine.core.data import TrainData  # noqa: E402
from engine.core.model import FitContext, Recommender  # noqa: E402
from engine.data.canonical import read_canonical_folder  # noqa: E402
from engine.data.indexing import build_train_data, dataset_features  # noqa: E402
from engine.data.synthetic import generate_synthetic  # noqa: E402
from engine.metrics.evaluation import SliceValidator  # noqa: E402
from engine.models.registry import create_model  # noqa: E402
from tests.shared_data import ML100K  # noqa: E402

FACTORS = 64


@dataclass(frozen=True)
class Pair:
    """One of our models and its library counterpart, each built for a number of epochs."""

    key: str
    ours: str
    library: str
    library_name: str

    def build(self, side: str, epochs: int) -> Recommender:
        """A fresh model of this pair's `side` ("ours" or "library") for `epochs` epochs, seed 0."""
        fixed = {"epochs": epochs, "patience": 0}
        if side == "ours":
            name, _, loss = self.ours.partition(":")
            params = {**fixed, **({"loss": loss} if loss else {})}
            if name in ("bpr", "hybridmf", "twotower"):
                params["n_factors"] = FACTORS
            return create_model(name, params, seed=0)
        if self.library == "implicit_bpr":
            return ImplicitBPR({"factors": FACTORS, "iterations": epochs, "patience": 0}, seed=0)
        return LightFMHybrid({"no_components": FACTORS, "loss": self.library.partition(":")[2], **fixed}, seed=0)


PAIRS = {pair.key: pair for pair in (
    Pair("bpr", "bpr", "implicit_bpr", "implicit BPR"),
    Pair("hybridmf_warp", "hybridmf:warp", "lightfm:warp", "LightFM WARP"),
    Pair("hybridmf_bpr", "hybridmf:bpr", "lightfm:bpr", "LightFM BPR"),
    Pair("twotower", "twotower", "lightfm:warp", "LightFM WARP"),
    Pair("deepfm", "deepfm", "lightfm:warp", "LightFM WARP"),
)}
LIBRARY_PACKAGE = {"implicit_bpr": "implicit_bpr", "lightfm:warp": "lightfm", "lightfm:bpr": "lightfm"}


@dataclass
class Timed:
    """One fit: seconds per epoch (fit seconds / epochs), CPU seconds per epoch (the process's, so a load from other
    work on the machine stretches the first far more than the second), positives per second and the validation
    NDCG@20."""

    seconds_per_epoch: float | None = None
    cpu_seconds_per_epoch: float | None = None
    samples_per_second: float | None = None
    valid_ndcg: float | None = None
    error: str | None = None

    def cell(self) -> str:
        return f"failed: {self.error[:60]}" if self.error else f"{self.seconds_per_epoch:.3f}"


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(ML100K), help="MovieLens 100K canonical folder")
    parser.add_argument("--pairs", default=",".join(PAIRS), help=f"comma-separated, of: {', '.join(PAIRS)}")
    parser.add_argument("--epochs", type=int, default=10, help="epochs of every fit on MovieLens 100K")
    parser.add_argument("--sizes", default="1000000",
                        help="synthetic interaction counts, comma-separated ('' for MovieLens 100K only)")
    parser.add_argument("--synthetic-epochs", type=int, default=2,
                        help="epochs of every fit on the synthetic sets (10M: 1 keeps the run within minutes)")
    parser.add_argument("--repeats", type=int, default=1, help="timed fits per side; the fastest is kept")
    return parser.parse_args()


def _time(model_factory, data: TrainData, epochs: int, repeats: int,
          validator: SliceValidator | None) -> Timed:
    """The fastest of `repeats` fits (a model that fails is reported, not fatal) and its validation NDCG@20."""
    timed = Timed()
    try:
        for _ in range(repeats):
            model = model_factory()
            started, cpu_started = time.perf_counter(), time.process_time()
            model.fit(data, FitContext(device="cpu"))
            seconds = (time.perf_counter() - started) / epochs
            if timed.seconds_per_epoch is None or seconds < timed.seconds_per_epoch:
                timed.seconds_per_epoch = seconds
                timed.cpu_seconds_per_epoch = (time.process_time() - cpu_started) / epochs
        timed.samples_per_second = data.matrix.nnz / timed.seconds_per_epoch
        timed.valid_ndcg = float(validator(model)) if validator is not None else None
    except Exception as error:  # a side that cannot fit this data is reported, not fatal for the benchmark
        timed.error = f"{type(error).__name__}: {error}"
    return timed


def _datasets(args: argparse.Namespace) -> list[tuple[str, TrainData, SliceValidator | None, int]]:
    """(label, training data, validator or None, epochs) for MovieLens 100K's warm split and each synthetic size."""
    dataset = read_canonical_folder(args.data)
    (case,) = protocol_cases(dataset, "warm", [1], "ndcg@20")
    out = [("ml-100k (warm seed 1)", case.train, case.validator, args.epochs)]
    for size in [int(s) for s in args.sizes.split(",") if s.strip()]:
        started = time.perf_counter()
        synthetic = generate_synthetic(n_users=max(50, size // 20), n_items=max(40, size // 200),
                                       n_interactions=size, seed=0)
        data = build_train_data(synthetic.positives(), synthetic, dataset_features(synthetic))
        print(f"synthetic {size:,}: {data.matrix.nnz:,} positives, {data.n_users:,} users, {data.n_items:,} items "
              f"(built in {time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
        out.append((f"synthetic {size // 1_000_000}M" if size >= 1_000_000 else f"synthetic {size // 1000}k", data,
                    None, args.synthetic_epochs))
    return out


def main() -> None:
    args = _arguments()
    torch.set_num_threads(1)
    os.environ[THREADS_ENV] = "1"
    pairs = [PAIRS[key] for key in args.pairs.split(",") if key]
    datasets = _datasets(args)
    warm_up = datasets[0][1]
    for pair in pairs:  # imports, numba's compile and first-call costs, paid once before any timing
        for side in ("ours", "library"):
            if side == "library" and missing_libraries([LIBRARY_PACKAGE[pair.library]]):
                continue
            pair.build(side, 1).fit(warm_up, FitContext(device="cpu"))
    print(f"\nOne thread each (torch, BLAS, the libraries); {FACTORS} factors; s / epoch = fit seconds / epochs, "
          "CPU s / epoch = the process's CPU seconds / epochs, "
          f"fastest of {args.repeats}; NDCG@20 on the validation slice after the timed epochs.\n")
    print("| pair | dataset | epochs | ours s / epoch | library s / epoch | ours / library | ours CPU s / epoch | "
          "library CPU s / epoch | ours / library (CPU) | ours samples / s | library samples / s | "
          "ours valid NDCG@20 | library valid NDCG@20 |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for label, data, validator, epochs in datasets:
        for pair in pairs:
            ours = _time(lambda: pair.build("ours", epochs), data, epochs, args.repeats, validator)
            missing = missing_libraries([LIBRARY_PACKAGE[pair.library]])
            library = Timed(error=f"{', '.join(missing)} not installed") if missing else \
                _time(lambda: pair.build("library", epochs), data, epochs, args.repeats, validator)
            both = not (ours.error or library.error)
            ratio = f"{ours.seconds_per_epoch / library.seconds_per_epoch:.2f}x" if both else ""
            cpu_ratio = f"{ours.cpu_seconds_per_epoch / library.cpu_seconds_per_epoch:.2f}x" if both else ""

            def rate(t: Timed) -> str:
                return "" if t.error else f"{t.samples_per_second:,.0f}"

            def cpu(t: Timed) -> str:
                return "" if t.error else f"{t.cpu_seconds_per_epoch:.3f}"

            def ndcg(t: Timed) -> str:
                return "" if t.valid_ndcg is None else f"{t.valid_ndcg:.4f}"

            print(f"| {pair.ours} vs {pair.library_name} | {label} | {epochs} | {ours.cell()} | {library.cell()} | "
                  f"{ratio} | {cpu(ours)} | {cpu(library)} | {cpu_ratio} | {rate(ours)} | {rate(library)} | "
                  f"{ndcg(ours)} | {ndcg(library)} |", flush=True)


if __name__ == "__main__":
    main()
