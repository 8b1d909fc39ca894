"""Ingest benchmark: read, validate and encode 1M synthetic interactions with item and user attributes.

Writes the synthetic tables as CSV to a temporary folder first (not timed), then times what an upload costs:
reading the three files as the Data page reads them (streamed block by block to disk and mapped back,
`engine.data.stream`), validating them into a Dataset, and encoding it (id maps, sparse interaction matrix,
attribute feature matrices). Prints rows per second per stage and the peak resident memory of the process
(sampled every 5 ms with psutil). Target on a 2-core machine: under 5 s and under 1 GB.

    .venv/bin/python benchmarks/ingest.py [--interactions 1000000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.data.columns import detect_roles  # noqa: E402
from engine.data.indexing import build_train_data  # noqa: E402
from engine.data.stream import read_streamed  # noqa: E402
from engine.data.synthetic import generate_synthetic  # noqa: E402
from engine.data.validate import AttributeInput, IntakeOptions, build_dataset  # noqa: E402


class PeakMemory:
    """Samples this process's resident memory in a background thread and keeps the maximum."""

    def __init__(self, every_s: float = 0.005) -> None:
        self.process = psutil.Process()
        self.every_s = every_s
        self.peak = self.process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(self.every_s)

    def __enter__(self) -> "PeakMemory":
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._thread.join()


def main() -> None:
    """Run the benchmark and print one line per stage plus the totals."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interactions", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--items", type=int, default=5_000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        data = generate_synthetic(args.users, args.items, args.interactions, seed=0)
        for name in ("interactions", "items", "users"):
            getattr(data, name).to_csv(folder / f"{name}.csv", index=False)
        sizes = {name: (folder / f"{name}.csv").stat().st_size for name in ("interactions", "items", "users")}
        del data
        baseline = psutil.Process().memory_info().rss
        timings: dict[str, float] = {}
        cpu: dict[str, float] = {}
        with PeakMemory() as memory:
            start, cpu_start = time.perf_counter(), time.process_time()
            raw = {}
            for name in ("interactions", "items", "users"):
                with open(folder / f"{name}.csv", "rb") as upload:
                    raw[name] = read_streamed(upload, f"{name}.csv", folder / "uploads", max_mb=float("inf"))
            timings["read"], cpu["read"] = time.perf_counter() - start, time.process_time() - cpu_start

            start, cpu_start = time.perf_counter(), time.process_time()
            result = build_dataset(
                raw["interactions"].frame, detect_roles(raw["interactions"].frame), IntakeOptions(),
                items=AttributeInput(raw["items"].frame, "item_id", label="items.csv"),
                users=AttributeInput(raw["users"].frame, "user_id", label="users.csv"),
            )
            timings["validate"], cpu["validate"] = time.perf_counter() - start, time.process_time() - cpu_start
            del raw

            start, cpu_start = time.perf_counter(), time.process_time()
            train = build_train_data(result.dataset.positives(), result.dataset)
            timings["encode"], cpu["encode"] = time.perf_counter() - start, time.process_time() - cpu_start

    rows = len(result.dataset.interactions)
    total = sum(timings.values())
    print(f"ingest benchmark: {rows:,} interactions ({sizes['interactions'] / 2**20:.1f} MB CSV), "
          f"{len(result.dataset.items):,} items, {len(result.dataset.users):,} users")
    # CPU seconds tell how much work was done when other processes share the cores (wall time then inflates).
    print(f"  load average {psutil.getloadavg()[0]:.1f} on {psutil.cpu_count()} cores")
    for stage, seconds in timings.items():
        print(f"  {stage:<9} {seconds:6.2f} s wall {cpu[stage]:6.2f} s cpu  {rows / seconds:>12,.0f} rows/s")
    print(f"  {'total':<9} {total:6.2f} s wall {sum(cpu.values()):6.2f} s cpu  {rows / total:>12,.0f} rows/s"
          "   (target < 5 s)")
    print(f"  peak RSS {memory.peak / 2**20:,.0f} MB (process, target < 1024 MB); "
          f"{(memory.peak - baseline) / 2**20:,.0f} MB above the state before reading")
    print(f"  encoded: {train.matrix.shape[0]:,} x {train.matrix.shape[1]:,} matrix with {train.matrix.nnz:,} "
          f"positives; item features {train.item_features.n_features if train.item_features else 0}, "
          f"user features {train.user_features.n_features if train.user_features else 0}")


if __name__ == "__main__":
    main()
