"""Issue 18's device check: one short script for a GPU machine (under five minutes) that prints the gradient
models' seconds per epoch and training samples per second there, next to what the device can do at best: its
fp32 matrix-multiply FLOP/s and its memory bandwidth (timed torch matmul and copy).

It runs the product's own code path (`FitContext(device=...)`, the same training loop and models as a CPU run),
on CUDA when present and on the CPU otherwise; `--tiny` shrinks every size so that the test suite runs it on a
CPU in seconds (tests/unit/test_gpu_check.py).

    .venv/bin/python benchmarks/gpu_check.py                # on the GPU machine: 1M synthetic interactions
    .venv/bin/python benchmarks/gpu_check.py --tiny         # anywhere, seconds
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.core.model import FitContext  # noqa: E402
from engine.data.indexing import build_train_data, dataset_features  # noqa: E402
from engine.data.synthetic import generate_synthetic  # noqa: E402
from engine.models.registry import create_model  # noqa: E402
from engine.training.device import describe_device, pick_device  # noqa: E402

MODELS = ("bpr", "hybridmf", "twotower", "deepfm")


@dataclass(frozen=True)
class Sizes:
    """How big every part of the check is."""

    interactions: int
    epochs: int
    matmul: int
    copy_mb: int


FULL = Sizes(interactions=1_000_000, epochs=2, matmul=8192, copy_mb=1024)
TINY = Sizes(interactions=20_000, epochs=1, matmul=256, copy_mb=8)


@dataclass
class ModelRate:
    """One model's training speed on the device."""

    model: str
    seconds_per_epoch: float
    samples_per_second: float


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _best_seconds(action, device: torch.device, repeats: int = 5) -> float:
    """The fastest of `repeats` timed runs of `action` after one untimed warm-up."""
    action()
    _synchronize(device)
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        _synchronize(device)
        best = min(best, time.perf_counter() - started)
    return best


def gemm_flops(device: torch.device, n: int) -> float:
    """fp32 FLOP/s of an n x n x n matrix product (2 n^3 operations), TF32 off so it is plain fp32."""
    previous = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        a = torch.randn(n, n, device=device)
        b = torch.randn(n, n, device=device)
        return 2.0 * n ** 3 / _best_seconds(lambda: a @ b, device)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = previous


def copy_bandwidth(device: torch.device, megabytes: int) -> float:
    """Bytes per second of a device-to-device copy (each byte read once and written once)."""
    source = torch.empty(megabytes * (1 << 20) // 4, dtype=torch.float32, device=device).uniform_()
    target = torch.empty_like(source)
    return 2.0 * source.numel() * 4 / _best_seconds(lambda: target.copy_(source), device)


def model_rates(device: torch.device, sizes: Sizes, models: tuple[str, ...] = MODELS,
                budget_s: float = 240.0) -> list[ModelRate]:
    """Fit each model for `sizes.epochs` epochs on a synthetic shop on `device`; stops starting models once
    `budget_s` seconds have passed, so the whole check stays within the GPU machine's time."""
    synthetic = generate_synthetic(n_users=max(50, sizes.interactions // 20), n_items=max(40, sizes.interactions // 200),
                                   n_interactions=sizes.interactions, seed=0)
    data = build_train_data(synthetic.positives(), synthetic, dataset_features(synthetic))
    started = time.perf_counter()
    rates = []
    for name in models:
        if time.perf_counter() - started > budget_s:
            print(f"{name}: skipped, the check's {budget_s:.0f} s budget is spent", flush=True)
            continue
        model = create_model(name, {"epochs": sizes.epochs, "patience": 0}, seed=0)
        model.fit(data, FitContext(device=str(device)))
        report = model.training_report
        rates.append(ModelRate(name, report.train_seconds / report.epochs_run, report.samples_per_second))
        print(f"{name}: {rates[-1].seconds_per_epoch:.3f} s / epoch, {rates[-1].samples_per_second:,.0f} samples / s "
              f"({data.matrix.nnz:,} positives)", flush=True)
    return rates


def main(argv: list[str] | None = None) -> list[ModelRate]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tiny", action="store_true", help="small sizes: a CPU run in seconds (the test)")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda or cuda:N")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--budget-s", type=float, default=240.0, help="stop starting model fits after this")
    args = parser.parse_args(argv)
    device = pick_device(args.device)
    sizes = TINY if args.tiny else FULL
    print(f"device: {describe_device(device)}; torch {torch.__version__}; sizes {sizes}", flush=True)
    flops = gemm_flops(device, sizes.matmul)
    bandwidth = copy_bandwidth(device, sizes.copy_mb)
    print(f"bound: fp32 matmul {flops / 1e12:.2f} TFLOP/s ({sizes.matmul}^3), copy {bandwidth / 1e9:.1f} GB/s "
          f"({sizes.copy_mb} MB)", flush=True)
    rates = model_rates(device, sizes, tuple(m for m in args.models.split(",") if m), args.budget_s)
    print("\n| model | device | s / epoch | samples / s |\n|---|---|---|---|")
    for rate in rates:
        print(f"| {rate.model} | {describe_device(device)} | {rate.seconds_per_epoch:.3f} | "
              f"{rate.samples_per_second:,.0f} |")
    return rates


if __name__ == "__main__":
    main()
