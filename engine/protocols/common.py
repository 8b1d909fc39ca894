"""Shared steps of every protocol: the rows to split, seeded choices of entities and records, row ordering.

Each random choice draws from its own stream (seed plus a step name), so changing one parameter of a protocol never
reshuffles an unrelated part of the split.
"""

from __future__ import annotations

import hashlib

from collections.abc import Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from engine.data.dataset import Dataset

class ProtocolError(ValueError):
    """A protocol that cannot be applied as asked: bad parameters or a dataset too small or lacking a column."""


def rows_to_split(dataset: Dataset) -> pd.DataFrame:
    """The dataset's positives with string ids, `weight`, and `rating` / `timestamp` where the dataset has them.

    Non-positive rows are dropped before splitting (the reference protocol of the model zoo), so every slice
    holds positives only; with explicit feedback and no threshold every rated row is a positive.
    """
    positives = dataset.positives()
    if positives.empty:
        raise ProtocolError("the dataset has no positive interactions to split; lower the rating threshold or "
                            "check the event weights")
    frame = pd.DataFrame({  # text columns stay in Arrow: a Python string per row would cost seconds and gigabytes
        "user_id": positives["user_id"].astype(str),
        "item_id": positives["item_id"].astype(str),
        "weight": positives["weight"].to_numpy(np.float64),
    })
    if "rating" in positives.columns:
        frame["rating"] = positives["rating"].to_numpy(np.float64)
    if "timestamp" in positives.columns:
        frame["timestamp"] = positives["timestamp"].to_numpy(np.int64)
    # a canonical order makes the split independent of the order rows were uploaded in
    return frame.sort_values(["user_id", "item_id"], kind="stable").reset_index(drop=True)


def is_in(ids: pd.Series, values: Iterable) -> np.ndarray:
    """`ids.isin(values)` as a boolean array, looked up by Arrow for text ids: pandas' isin on Arrow strings makes
    a Python object of each of the values first, a second per call for 200k users in a 20M-row split."""
    column = pa.array(ids) if pd.api.types.is_string_dtype(ids) and hasattr(ids.array, "__arrow_array__") else None
    if column is None:
        return ids.isin(values).to_numpy(bool)
    wanted = values if isinstance(values, (pd.Series, pd.Index, pd.api.extensions.ExtensionArray, np.ndarray)) \
        else list(values)
    value_set = pa.array(np.asarray(wanted, dtype=object) if isinstance(wanted, (list, np.ndarray)) else wanted,
                         type=column.type, from_pandas=True)
    return pc.fill_null(pc.is_in(column, value_set=value_set), False).to_numpy(zero_copy_only=False)


def rng_for(seed: int, step: str) -> np.random.Generator:
    """An independent random stream for one step of a protocol."""
    digest = int.from_bytes(hashlib.sha256(step.encode()).digest()[:8], "little")
    return np.random.default_rng([int(seed), digest])


def choose_entities(ids: pd.Series, fraction: float, seed: int, step: str) -> tuple[np.ndarray, np.ndarray]:
    """Pick `fraction` of `ids` (at least one) and halve them by entity: (validation entities, test entities)."""
    # the distinct ids first (one hash pass in Arrow), so only they become Python strings to sort
    unique = np.asarray(sorted(np.asarray(pd.unique(ids), dtype=object).tolist()), dtype=object)
    n_chosen = max(2, int(round(fraction * len(unique))))
    if n_chosen >= len(unique):
        raise ProtocolError(f"cannot hold out {n_chosen} of {len(unique)} entities and keep any for training; "
                            "lower the cold fraction or use a larger dataset")
    chosen = rng_for(seed, step).permutation(unique)[:n_chosen]
    n_valid = n_chosen // 2
    return np.sort(chosen[:n_valid]), np.sort(chosen[n_valid:])


def record_parts(n_rows: int, valid_fraction: float, test_fraction: float, seed: int, step: str) -> np.ndarray:
    """Assign each of `n_rows` records to 'train', 'valid' or 'test' at random with the given fractions."""
    draw = rng_for(seed, step).random(n_rows)
    parts = np.full(n_rows, "train", dtype=object)
    parts[draw < valid_fraction + test_fraction] = "test"
    parts[draw < valid_fraction] = "valid"
    return parts


def move_unknown_back(frame: pd.DataFrame, parts: np.ndarray) -> np.ndarray:
    """Held-out records whose user or item has no training record go back to training (ColdRec's rule), so
    warm entities always appear in training. One pass suffices: moving rows only adds entities to training."""
    train = parts == "train"
    # distinct ids, not set(column): iterating a column of millions of strings in Python took most of a split
    known_users = frame.loc[train, "user_id"].unique()
    known_items = frame.loc[train, "item_id"].unique()
    unknown = ~train & ~(is_in(frame["user_id"], known_users) & is_in(frame["item_id"], known_items))
    parts = parts.copy()
    parts[unknown] = "train"
    return parts


def ordered_within(frame: pd.DataFrame, key: str, seed: int, step: str) -> pd.DataFrame:
    """Rows grouped by `key`, each group in time order (ties and time-less data in a seeded random order),
    with `position` = 0, 1, ... within the group: the order in which few-shot rows are revealed."""
    shuffle = rng_for(seed, step).random(len(frame))
    ordered = frame.assign(_shuffle=shuffle)
    sort_by = [key, "timestamp", "_shuffle"] if "timestamp" in frame.columns else [key, "_shuffle"]
    ordered = ordered.sort_values(sort_by, kind="stable").drop(columns="_shuffle")
    ordered["position"] = ordered.groupby(key, sort=False).cumcount()
    return ordered.reset_index(drop=True)
