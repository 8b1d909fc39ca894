"""Scale benchmark: a MovieLens-20M-sized synthetic catalogue through the whole path, wall time and peak memory
per stage.

20M interactions, 200k users and 50k items with attributes are written to Parquet (not timed), then: read, validate,
encode, a cold-item and a few-shot-user split, fits of ALS, EASE (or its stated size limit), hybrid MF, two-tower and
the attribute mapper on the cold-item split, and a full-ranking evaluation (every training item a candidate) of
20k test users. Iterative fits are capped so the benchmark ends in minutes, and the table says how: ALS and the
mapper run `--als-iterations` sweeps; the gradient models run one epoch on `--gradient-rows` training rows.
Targets on a 2-core, 24 GB machine: every stage fits in memory, ingest (read + validate + encode) under 60 s, the
evaluation under 60 s. Each stage prints wall and CPU seconds (all threads of the process): on a shared machine the
wall time inflates with the load, the CPU time much less. `save` stores the dataset as an upload would (fingerprint,
Parquet files, catalogue row) in a temporary data folder; `--fits` picks the fits to time (ALS is always fitted:
the evaluation ranks with it), so the ingest, split and evaluation stages can be measured without the long fits.

    nice .venv/bin/python benchmarks/scale.py [--interactions 20000000 --users 200000 --items 50000] [--fits als]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, TypeVar

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.ingest import PeakMemory  # noqa: E402
from engine.core.model import FitContext  # noqa: E402
from engine.data.catalog import save_dataset  # noqa: E402
from engine.data.columns import detect_roles  # noqa: E402
from engine.data.indexing import build_train_data, dataset_features  # noqa: E402
from engine.data.read import read_path  # noqa: E402
from engine.data.synthetic import generate_synthetic  # noqa: E402
from engine.data.validate import AttributeInput, IntakeOptions, build_dataset  # noqa: E402
from engine.metrics.evaluation import evaluate  # noqa: E402
from engine.models import ease  # noqa: E402
from engine.models.registry import create_model  # noqa: E402
from engine.runs.protocol_catalog import make_split  # noqa: E402
from engine.store.db import dispose_engines  # noqa: E402

T = TypeVar("T")
FITS = ("als", "ease", "hybridmf", "twotower", "mapper")
INGEST_TARGET_S = 60.0
EVALUATION_TARGET_S = 60.0


@dataclasses.dataclass
class Stage:
    name: str
    seconds: float | None
    cpu_seconds: float | None
    peak_mb: float | None
    note: str = ""


class StageTable:
    """Times each stage and samples the process's peak resident memory while it runs."""

    def __init__(self) -> None:
        self.stages: list[Stage] = []

    def run(self, name: str, work: Callable[[], T], note: str = "") -> T:
        with PeakMemory() as memory:
            started, cpu_started = time.perf_counter(), time.process_time()
            value = work()
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        self.stages.append(Stage(name, seconds, cpu, memory.peak / 2**20, note))
        print(f"  {name:<38} {seconds:8.1f} s {cpu:8.1f} s cpu  {memory.peak / 2**30:6.2f} GB  {note}", flush=True)
        return value

    def skip(self, name: str, note: str) -> None:
        self.stages.append(Stage(name, None, None, None, note))
        print(f"  {name:<38} {'-':>8}   {'-':>8}      {'-':>6}     {note}", flush=True)

    def seconds(self, *names: str) -> float:
        return sum(s.seconds or 0.0 for s in self.stages if s.name in names)

    def print(self) -> None:
        # CPU seconds say how much work a stage did when other processes share the cores (wall time then inflates)
        print("\n| stage | wall s | CPU s | peak RSS GB | note |\n|---|---:|---:|---:|---|")
        for stage in self.stages:
            seconds = f"{stage.seconds:.1f}" if stage.seconds is not None else "-"
            cpu = f"{stage.cpu_seconds:.1f}" if stage.cpu_seconds is not None else "-"
            peak = f"{stage.peak_mb / 1024:.2f}" if stage.peak_mb is not None else "-"
            print(f"| {stage.name} | {seconds} | {cpu} | {peak} | {stage.note} |")


def write_catalogue(folder: Path, n_interactions: int, n_users: int, n_items: int) -> dict[str, Path]:
    """The synthetic catalogue as Parquet files (what an upload is stored as)."""
    data = generate_synthetic(n_users, n_items, n_interactions, seed=0)
    paths = {}
    for name in ("interactions", "items", "users"):
        paths[name] = folder / f"{name}.parquet"
        getattr(data, name).to_parquet(paths[name], index=False)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interactions", type=int, default=20_000_000)
    parser.add_argument("--users", type=int, default=200_000)
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--eval-users", type=int, default=20_000)
    parser.add_argument("--als-iterations", type=int, default=3)
    parser.add_argument("--gradient-rows", type=int, default=200_000)
    parser.add_argument("--catalogue", type=Path, default=None,
                        help="folder for the generated Parquet files: written when missing, reused when present "
                             "(the same sizes), so a rerun skips the generation")
    parser.add_argument("--fits", default=",".join(FITS),
                        help=f"comma-separated fits to time, of {','.join(FITS)} (ALS is always fitted)")
    args = parser.parse_args()
    fits = {name.strip() for name in args.fits.split(",") if name.strip()}
    if fits - set(FITS):
        parser.error(f"unknown fits {sorted(fits - set(FITS))}; choose from {', '.join(FITS)}")

    table = StageTable()
    print(f"scale benchmark: {args.interactions:,} interactions, {args.users:,} users, {args.items:,} items "
          f"(load average {psutil.getloadavg()[0]:.1f} on {psutil.cpu_count()} cores, "
          f"{psutil.virtual_memory().total / 2**30:.0f} GB)", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.catalogue / f"{args.interactions}-{args.users}-{args.items}" if args.catalogue else Path(tmp)
        paths = {name: folder / f"{name}.parquet" for name in ("interactions", "items", "users")}
        if not all(path.is_file() for path in paths.values()):
            folder.mkdir(parents=True, exist_ok=True)
            table.run("generate + write Parquet (not ingest)",
                      lambda: write_catalogue(folder, args.interactions, args.users, args.items))
        raw = table.run("read", lambda: {name: read_path(path).frame for name, path in paths.items()})
    result = table.run("validate", lambda: build_dataset(
        raw["interactions"], detect_roles(raw["interactions"]), IntakeOptions(),
        items=AttributeInput(raw["items"], "item_id", label="items"),
        users=AttributeInput(raw["users"], "user_id", label="users")))
    del raw
    dataset = result.dataset
    features = dataset_features(dataset)
    train_all = table.run("encode", lambda: build_train_data(dataset.positives(), dataset, features),
                          note=f"{len(dataset.interactions):,} rows")
    del train_all
    with tempfile.TemporaryDirectory() as home:
        table.run("save (fingerprint, Parquet, catalogue)", lambda: save_in(Path(home), dataset))
    ingest = table.seconds("read", "validate", "encode")
    cold = table.run("split cold-item", lambda: make_split(dataset, "cold-item", seed=0))
    table.run("split few-shot-user", lambda: make_split(dataset, "few-shot-user", seed=0))
    train = table.run("encode cold-item train", lambda: build_train_data(cold.train, dataset, features),
                      note=f"{train_size(cold)}")
    context = FitContext(device="cpu", watched=False)
    als = table.run("fit ALS", lambda: create_model("als", {"iterations": args.als_iterations}).fit(train, context),
                    note=f"capped at {args.als_iterations} sweeps")
    reason = ease.not_applicable_at_size(train.n_items)
    if "ease" not in fits:
        pass
    elif reason is None:
        table.run("fit EASE", lambda: create_model("ease").fit(train, context))
    else:
        table.skip("fit EASE", reason)
    if fits & {"hybridmf", "twotower"}:
        rows = min(args.gradient_rows, len(cold.train))
        sample = cold.train.sample(n=rows, random_state=0) if rows < len(cold.train) else cold.train
        gradient_train = build_train_data(sample, dataset, features)
        capped = f"1 epoch on {rows:,} of {len(cold.train):,} training rows"
        for name, label in (("hybridmf", "fit hybrid MF"), ("twotower", "fit two-tower")):
            if name in fits:
                table.run(label, lambda: create_model(name, {"epochs": 1}).fit(gradient_train, context), capped)
        del gradient_train
    if "mapper" in fits:
        table.run("fit attribute mapper",
                  lambda: create_model("mapper", {"iterations": args.als_iterations}).fit(train, context),
                  note=f"capped at {args.als_iterations} ALS sweeps")
    warm = next(s for s in cold.test if s.name == "warm")
    users = np.random.default_rng(0).permutation(warm.truth["user_id"].unique())[:args.eval_users]
    chosen = dataclasses.replace(warm, name="full ranking", truth=warm.truth[warm.truth["user_id"].isin(users)])
    evaluation = table.run("evaluate ALS, full ranking", lambda: evaluate(als, train, [chosen], n_bootstrap=0),
                           note=f"{len(users):,} users x {len(chosen.candidate_items):,} items")
    table.print()
    peak = max(s.peak_mb or 0 for s in table.stages) / 1024
    evaluation_s = table.seconds("evaluate ALS, full ranking")
    print(f"\ningest (read + validate + encode) {ingest:.1f} s (target < {INGEST_TARGET_S:.0f} s); evaluation of "
          f"{len(users):,} users {evaluation_s:.1f} s (target < {EVALUATION_TARGET_S:.0f} s); peak RSS {peak:.1f} GB; "
          f"ALS ndcg@20 {evaluation.slices['full ranking']['ndcg@20'].mean:.4f}")


def save_in(home: Path, dataset) -> int:
    """Store `dataset` as an upload is stored, in a data folder and SQLite catalogue of its own under `home`."""
    saved = {key: os.environ.pop(key, None) for key in ("COLDSTART_HOME", "DATABASE_URL")}
    os.environ["COLDSTART_HOME"] = str(home)
    try:
        return save_dataset(dataset, "scale benchmark", "upload")
    finally:
        dispose_engines()
        os.environ.pop("COLDSTART_HOME")
        os.environ.update({key: value for key, value in saved.items() if value is not None})


def train_size(split) -> str:
    return f"{len(split.train):,} rows, {len(split.cold_items):,} cold items held out"


if __name__ == "__main__":
    main()
