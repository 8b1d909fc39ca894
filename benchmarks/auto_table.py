"""Auto against its candidates: validation and test NDCG@20 of each candidate with default settings and of auto,
on MovieLens 100K (cold-item and warm, read in place) and two synthetic kinds of data.

Auto chooses on the validation slices only; the test slices are scored once per fitted model, after, for this table.
Each case reports its headline slice (named like the protocol) and, for the cold protocols, the warm slice too,
since auto serves both with whatever validated best on each. Means over the split seeds.

    nice -n 10 .venv/bin/python benchmarks/auto_table.py                       # seeds 1,2, every case
    nice -n 10 .venv/bin/python benchmarks/auto_table.py --seeds 1 --cases tags:cold-item
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.protocol_cases import ProtocolCase, protocol_cases  # noqa: E402
from engine.core.model import FitContext, Recommender  # noqa: E402
from engine.data.canonical import read_canonical_folder  # noqa: E402
from engine.data.dataset import Dataset  # noqa: E402
from engine.data.synthetic_kinds import generate_kind  # noqa: E402
from engine.metrics.evaluation import evaluate, reason_not_served  # noqa: E402
from engine.models.auto import DEFAULT_CANDIDATES  # noqa: E402
from engine.models.registry import create_model  # noqa: E402
from tests.shared_data import ML100K  # noqa: E402

METRIC = "ndcg@20"
KIND_SIZES = {"tags": (1_000, 2_000, 20_000), "genres": (1_000, 1_000, 30_000)}
"""users, items, interactions of the synthetic kinds: small, so the whole table takes minutes on two cores."""
CASES = ("ml-100k:cold-item", "ml-100k:warm", "tags:cold-item", "genres:cold-user")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", default=",".join(CASES), help="DATA:PROTOCOL, comma-separated")
    parser.add_argument("--seeds", default="1,2", help="split seeds, comma-separated")
    parser.add_argument("--threads", type=int, default=2)
    return parser.parse_args()


def _dataset(name: str) -> Dataset:
    return read_canonical_folder(ML100K) if name == "ml-100k" else generate_kind(name, *KIND_SIZES[name], seed=0)


def _slice_names(protocol: str) -> list[str]:
    return [protocol] if protocol == "warm" else [protocol, "warm"]


def _scores(model: Recommender, case: ProtocolCase, names: list[str]) -> dict[str, float]:
    """Validation and test NDCG@20 per slice name, NaN where the model cannot serve the slice."""
    out = {}
    for part, slices in (("valid", case.split.valid), ("test", case.split.test)):
        for evaluation_slice in (s for s in slices if s.name in names):
            value = np.nan
            if reason_not_served(type(model), case.train, evaluation_slice) is None:
                result = evaluate(model, case.train, [evaluation_slice], (20,), seed=case.seed, n_bootstrap=0,
                                  beyond=False)
                value = result.metric(evaluation_slice.name, METRIC).mean
            out[f"{part} {evaluation_slice.name}"] = value
    return out


class _Printed:
    """Progress that prints auto's choice lines (the rest of its log is the candidates' training)."""

    def report(self, **_: object) -> None:
        """Epochs are not printed."""

    def log(self, message: str) -> None:
        if " -> " in message or "not compared" in message:
            print(f"    {message}", flush=True)

    def should_stop(self) -> bool:
        return False


def _run_case(data_name: str, protocol: str, seeds: list[int]) -> None:
    names = _slice_names(protocol)
    table: dict[str, list[dict[str, float]]] = defaultdict(list)
    for case in protocol_cases(_dataset(data_name), protocol, seeds, METRIC):
        print(f"  seed {case.seed}: auto's choice", flush=True)
        for name in (*DEFAULT_CANDIDATES, "auto"):
            context = FitContext(validator=case.validator, progress=_Printed() if name == "auto" else None)
            try:
                model = create_model(name, seed=case.seed).fit(case.train, context)
            except ValueError as error:
                print(f"    {name} cannot be fitted: {error}")
                continue
            table[name].append(_scores(model, case, names))
    columns = [f"{part} {name}" for name in names for part in ("valid", "test")]
    print(f"\n{data_name} {protocol}, {METRIC}, seeds {','.join(map(str, seeds))}\n")
    print("| model | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for model, rows in table.items():
        means = [np.mean([row.get(column, np.nan) for row in rows]) for column in columns]
        cells = ["n/a" if np.isnan(value) else f"{value:.4f}" for value in means]
        shown = f"**{model}**" if model == "auto" else model
        print(f"| {shown} | " + " | ".join(cells) + " |", flush=True)
    print()


def main() -> None:
    args = _arguments()
    torch.set_num_threads(args.threads)
    seeds = [int(s) for s in args.seeds.split(",")]
    for case in args.cases.split(","):
        data_name, protocol = case.split(":")
        print(f"{data_name} {protocol}", flush=True)
        _run_case(data_name, protocol, seeds)


if __name__ == "__main__":
    main()
