"""Training speed of every registered model: fit seconds on MovieLens 100K and on a 1M-interaction synthetic set,
seconds per epoch and training samples per second for the gradient models, and a GPU section when CUDA is present.

Models come from the registry, so a newly registered model appears here without editing this file. Gradient models
(those trained by engine.training's loop) run a fixed number of epochs without early stopping, so their figures
are comparable; the others fit with their defaults.

When implicit is installed (`.venv/bin/pip install -r requirements-bench.txt`), our ALS and BPR are timed side by
side with implicit's on the same data, same vector length and same number of iterations / epochs, through the
adapters of `benchmarks/library_models.py`; the libraries get as many threads as torch (`--threads`).

    .venv/bin/python benchmarks/train_speed.py                          # every model, both datasets, CPU (+GPU)
    .venv/bin/python benchmarks/train_speed.py --models bpr,hybridmf --skip-synthetic
    .venv/bin/python benchmarks/train_speed.py --synthetic-interactions 200000 --epochs 2
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.library_models import (INSTALL_HINT, THREADS_ENV, ImplicitALS, ImplicitBPR,  # noqa: E402
                                       missing_libraries)
from engine.core.data import TrainData
from engine.core.model import FitContext, Recommender  # noqa: E402
from engine.data.canonical import read_canonical_folder  # noqa: E402
from engine.data.dataset import Dataset  # noqa: E402
from engine.data.indexing import build_train_data  # noqa: E402
from engine.data.synthetic import generate_synthetic  # noqa: E402
from engine.models.registry import create_model, get_model_class, model_names  # noqa: E402
from engine.training.device import describe_device  # noqa: E402
from engine.training.recommender import TorchRecommender  # noqa: E402
from tests.shared_data import ML100K  # noqa: E402

REFERENCES = ("implicit ALS ~0.005 s/iteration, implicit BPR ~0.003 s/epoch, LightFM ~0.07 s/epoch with features "
              "(MovieLens 100K, 2 threads; issue 4)")


@dataclass
class Timing:
    """One model's fit on one dataset and device."""

    model: str
    dataset: str
    device: str
    fit_s: float | None = None
    epochs: int | None = None
    train_s: float = 0.0
    samples_per_s: float | None = None
    error: str | None = None

    @property
    def seconds_per_epoch(self) -> float | None:
        """Training seconds per epoch (validation excluded), for gradient models."""
        return None if not self.epochs or self.fit_s is None else self.train_s / self.epochs


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(ML100K),
                        help="canonical dataset folder (default ../shared/data/ml-100k)")
    parser.add_argument("--models", default="", help="registry keys, comma-separated (default: all registered)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per gradient model (no early stopping)")
    parser.add_argument("--synthetic-interactions", type=int, default=1_000_000,
                        help="size of the synthetic set (users and items scale with it)")
    parser.add_argument("--skip-synthetic", action="store_true", help="time MovieLens 100K only")
    parser.add_argument("--threads", type=int, default=2,
                        help="torch CPU threads (use 1 on a machine busy with other work: oversubscribed threads "
                             "spin and slow every step down)")
    return parser.parse_args()


def _is_gradient(name: str) -> bool:
    return issubclass(get_model_class(name), TorchRecommender)


def _time_fit(name: str, data: TrainData, dataset_name: str, device: str, epochs: int) -> Timing:
    """Fit one model once; gradient models get a fixed epoch count so samples per second compare."""
    params = {"epochs": epochs, "patience": 0} if _is_gradient(name) else {}
    timing = Timing(name, dataset_name, device)
    try:
        model = create_model(name, params, seed=0)
        started = time.perf_counter()
        model.fit(data, FitContext(device=device))
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        timing.fit_s = time.perf_counter() - started
    except Exception as error:  # a model that cannot fit this data is reported, not fatal for the benchmark
        timing.error = f"{type(error).__name__}: {error}"
        return timing
    report = getattr(model, "training_report", None)
    if report is not None:
        timing.epochs = report.epochs_run
        timing.train_s = report.train_seconds
        timing.samples_per_s = report.samples_per_second
    return timing


@dataclass
class SideBySide:
    """Our model and its library counterpart fitted on the same data with the same size and number of passes."""

    idea: str
    dataset: str
    unit: str
    passes: int
    ours: Timing
    library: Timing

    def per_pass(self, timing: Timing) -> str:
        """Fit seconds per iteration (epoch), set-up included, the same rule on both sides."""
        return "" if timing.fit_s is None else f"{timing.fit_s / self.passes:.4f}"


def _fit_seconds(model: Recommender, data: TrainData, timing: Timing) -> Timing:
    """Time one CPU fit of an already configured model into `timing` (errors reported, not raised)."""
    try:
        started = time.perf_counter()
        model.fit(data, FitContext(device="cpu"))
        timing.fit_s = time.perf_counter() - started
    except Exception as error:  # a library failing on this data is reported, not fatal for the benchmark
        timing.error = f"{type(error).__name__}: {error}"
    return timing


def _library_side_by_side(models: list[str], datasets: list[tuple[str, TrainData]], epochs: int,
                          cpu: list[Timing]) -> list[SideBySide]:
    """Our ALS and BPR (from the CPU timings) next to implicit's, same data, vector length and passes."""
    ours_by_key = {(t.model, t.dataset): t for t in cpu}
    rows = []
    for label, data in datasets:
        if "als" in models:
            ours = create_model("als", {}, seed=0).config
            library = ImplicitALS({"factors": ours.factors, "iterations": ours.iterations}, seed=0)
            rows.append(SideBySide("ALS", label, "iteration", ours.iterations, ours_by_key[("als", label)],
                                   _fit_seconds(library, data, Timing("implicit_als", label, "cpu"))))
        if "bpr" in models:
            n_factors = create_model("bpr", {}, seed=0).config.n_factors
            # implicit appends the item bias as one more column, as our BPR keeps one bias per item
            library = ImplicitBPR({"factors": n_factors, "iterations": epochs, "patience": 0}, seed=0)
            rows.append(SideBySide("BPR", label, "epoch", epochs, ours_by_key[("bpr", label)],
                                   _fit_seconds(library, data, Timing("implicit_bpr", label, "cpu"))))
    return rows


def _side_by_side_table(rows: list[SideBySide], threads: int) -> None:
    print(f"\nOurs vs implicit on the same data (CPU, {threads} thread(s) each; s / pass = fit s / iterations or "
          "epochs, set-up included)\n")
    print("| idea | dataset | passes | ours fit s | ours s / pass | implicit fit s | implicit s / pass | "
          "ours / implicit time |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        failed = next((t for t in (row.ours, row.library) if t.error), None)
        if failed is not None:
            print(f"| {row.idea} | {row.dataset} | {row.passes} {row.unit}s | failed ({failed.model}): "
                  f"{failed.error[:90]} | | | | |")
            continue
        ratio = row.ours.fit_s / row.library.fit_s if row.library.fit_s else float("nan")
        print(f"| {row.idea} | {row.dataset} | {row.passes} {row.unit}s | {row.ours.fit_s:.2f} | "
              f"{row.per_pass(row.ours)} | {row.library.fit_s:.2f} | {row.per_pass(row.library)} | {ratio:.2f}x |")


def _synthetic(n_interactions: int) -> Dataset:
    """A synthetic shop of `n_interactions` rows: 20 interactions per user, 200 per item on average."""
    return generate_synthetic(n_users=max(50, n_interactions // 20), n_items=max(40, n_interactions // 200),
                              n_interactions=n_interactions, seed=0)


def _table(timings: list[Timing], title: str) -> None:
    print(f"\n{title}\n")
    print("| model | dataset | device | fit s | s / epoch | samples / s |")
    print("|---|---|---|---|---|---|")
    for t in timings:
        if t.error:
            print(f"| {t.model} | {t.dataset} | {t.device} | failed: {t.error[:90]} | | |")
            continue
        per_epoch = f"{t.seconds_per_epoch:.3f}" if t.seconds_per_epoch is not None else ""
        rate = f"{t.samples_per_s:,.0f}" if t.samples_per_s else ""
        print(f"| {t.model} | {t.dataset} | {t.device} | {t.fit_s:.2f} | {per_epoch} | {rate} |")


def _warm_up() -> None:
    """Pay once, untimed, the process-wide cost the first torch optimizer pays (it imports torch._dynamo, seconds
    on this machine), so it is not charged to whichever model happens to be timed first."""
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])


def main() -> None:
    args = _arguments()
    torch.set_num_threads(args.threads)
    _warm_up()
    models = [m for m in args.models.split(",") if m] or model_names()
    datasets: list[tuple[str, TrainData]] = []
    ml = read_canonical_folder(args.data)
    datasets.append(("ml-100k", build_train_data(ml.positives(), ml)))
    if not args.skip_synthetic:
        started = time.perf_counter()
        synthetic = _synthetic(args.synthetic_interactions)
        data = build_train_data(synthetic.positives(), synthetic)
        print(f"synthetic set: {len(synthetic.interactions):,} interactions, {data.matrix.nnz:,} positives, "
              f"{data.n_users:,} users, {data.n_items:,} items (built in {time.perf_counter() - started:.1f} s)")
        datasets.append((f"synthetic-{args.synthetic_interactions // 1000}k", data))

    cpu = [_time_fit(name, data, label, "cpu", args.epochs) for label, data in datasets for name in models]
    _table(cpu, f"CPU ({args.threads} threads), gradient models {args.epochs} epochs. Reference: {REFERENCES}")

    if {"als", "bpr"} & set(models):
        if missing_libraries(["implicit_als"]):
            print(f"\nimplicit ALS and BPR side by side skipped: implicit is not installed ({INSTALL_HINT})")
        else:
            os.environ[THREADS_ENV] = str(args.threads)
            _side_by_side_table(_library_side_by_side(models, datasets, args.epochs, cpu), args.threads)

    if not torch.cuda.is_available():
        print("\nGPU section skipped: no CUDA device on this machine (torch.cuda.is_available() is False).")
        return
    gpu_device = "cuda"
    gradient = [m for m in models if _is_gradient(m)]
    gpu = [_time_fit(name, data, label, gpu_device, args.epochs) for label, data in datasets for name in gradient]
    _table(gpu, f"GPU {describe_device(torch.device(gpu_device))}, gradient models {args.epochs} epochs")
    print("\n| model | dataset | GPU speed-up (samples / s) |\n|---|---|---|")
    by_key = {(t.model, t.dataset): t for t in cpu}
    for t in gpu:
        base = by_key.get((t.model, t.dataset))
        if t.samples_per_s and base is not None and base.samples_per_s:
            print(f"| {t.model} | {t.dataset} | {t.samples_per_s / base.samples_per_s:.1f}x |")


if __name__ == "__main__":
    main()
