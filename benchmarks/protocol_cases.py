"""The seeded cases the ml-100k tables iterate over: one split per seed, indexed once, with its validator.

`zoo_table.py`, `coldstart_table.py`, `library_parity.py` and `fewshot_table.py` all tune on a split's validation
slice and score on its test part; this is that shared setup, so each table indexes a split only once.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pandas as pd
import torch

from engine.core.data import TrainData
from engine.core.features import FeatureMatrix
from engine.data.dataset import Dataset
from engine.data.indexing import build_train_data, dataset_features
from engine.metrics.evaluation import SliceValidator, make_validator, reason_not_served
from engine.models.registry import get_model_class
from engine.runs.protocol_catalog import make_split
from engine.protocols.split import EvalSlice, Split
from tests.shared_data import ML100K


@dataclass
class ProtocolCase:
    """One seeded split of a protocol, ready for tuning (`validator`) and scoring (`test_slice`).

    `test_slice` is the test slice named like the protocol, or `overall` for the few-shot protocols, whose test
    part is one slice per k (all in `split.test`).
    """

    seed: int
    split: Split
    train: TrainData
    validator: SliceValidator
    test_slice: EvalSlice


def protocol_cases(dataset: Dataset, protocol: str, seeds: Sequence[int], metric: str,
                   features: tuple[FeatureMatrix | None, FeatureMatrix | None] | None = None) -> Iterator[ProtocolCase]:
    """Each seed's split of `protocol`; `features` (the dataset's encoding) is computed once when not given."""
    features = features if features is not None else dataset_features(dataset)
    for seed in seeds:
        split = make_split(dataset, protocol, seed)
        train = build_train_data(split.train, dataset, features)
        yield ProtocolCase(seed, split, train, make_validator(train, split, metric, seed=seed),
                           headline_slice(split, protocol))


def headline_slice(split: Split, protocol: str) -> EvalSlice:
    """The test slice a protocol is summed up by: the one named like it, else `overall` (few-shot protocols)."""
    by_name = {s.name: s for s in split.test}
    return by_name.get(protocol) or by_name["overall"]


def per_user_series(per_user: pd.DataFrame, slice_name: str, seed: int, metric: str) -> pd.Series:
    """One slice's per-user `metric` from an evaluation's per-user frame, indexed "seed:user" so the seeds of a
    protocol pool into one paired comparison."""
    rows = per_user.loc[per_user["slice"] == slice_name]
    return pd.Series(rows[metric].to_numpy(), index=[f"{seed}:{u}" for u in rows["user_id"]])


def best_of(group: Sequence[str], means: dict[str, float]) -> str | None:
    """The model of `group` with the highest mean, or None when none of them was scored."""
    scored = [m for m in group if m in means]
    return max(scored, key=means.get) if scored else None


def ci_verdict(low: float, high: float) -> str:
    """How a challenger stands against a champion, read from the paired CI of their difference."""
    return "beats" if low > 0 else ("loses to" if high < 0 else "does not separate from")


def servable_cases(dataset: Dataset, protocol: str, seeds: Sequence[int], metric: str, models: Sequence[str],
                   not_applicable: dict[tuple[str, str], str],
                   features: tuple[FeatureMatrix | None, FeatureMatrix | None] | None = None
                   ) -> Iterator[tuple[ProtocolCase, str]]:
    """(case, model) for each seed's case of `protocol` and each of `models` that can serve its test slice; a model
    that cannot is recorded in `not_applicable[(model, protocol)]` with its reason, as the tables print it."""
    for case in protocol_cases(dataset, protocol, seeds, metric, features):
        for name in models:
            reason = reason_not_served(get_model_class(name), case.train, case.test_slice)
            if reason is not None:
                not_applicable[(name, protocol)] = reason
                continue
            yield case, name


def table_arguments(doc: str, protocols: Sequence[str], protocols_help: str = "protocols, comma-separated",
                    threads_help: str = "torch CPU threads") -> argparse.ArgumentParser:
    """The options every ml-100k table takes (--data, --seeds, --protocols, --threads); each table adds its own."""
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument("--data", default=str(ML100K), help="canonical dataset folder (default ../shared/data/ml-100k)")
    parser.add_argument("--seeds", default="1,2,3", help="split seeds, comma-separated")
    parser.add_argument("--protocols", default=",".join(protocols), help=protocols_help)
    parser.add_argument("--threads", type=int, default=2, help=threads_help)
    return parser


def table_seeds(args: argparse.Namespace) -> list[int]:
    """Set the torch threads the table asked for and return its split seeds."""
    torch.set_num_threads(args.threads)
    return [int(s) for s in args.seeds.split(",")]
