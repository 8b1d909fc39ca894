"""Warm protocol: a per-user record holdout; every test user and item was seen in training."""

from __future__ import annotations

import numpy as np

from engine.data.dataset import Dataset
from engine.protocols.assemble import SplitParts
from engine.protocols.common import ProtocolError, check_fraction, move_unknown_back, rng_for, rows_to_split


def warm_split(dataset: Dataset, seed: int = 0, *, valid_fraction: float = 0.1, test_fraction: float = 0.1,
               min_positives: int = 5) -> SplitParts:
    """Hold out `valid_fraction` and `test_fraction` of each user's positives (at least one row each) for users
    with at least `min_positives` positives; lighter users stay whole in training."""
    check_fraction("valid_fraction", valid_fraction, allow_zero=False)
    check_fraction("test_fraction", test_fraction, allow_zero=False)
    if valid_fraction + test_fraction >= 1:
        raise ProtocolError("valid_fraction + test_fraction must leave some rows for training (sum below 1)")
    if min_positives < 3:
        raise ProtocolError(f"min_positives={min_positives} must be at least 3 (one train, one valid, one test row)")
    rows = rows_to_split(dataset)
    rows = rows.assign(_draw=rng_for(seed, "warm-records").random(len(rows)))
    rows["_rank"] = rows.groupby("user_id")["_draw"].rank(method="first").astype(int) - 1
    size = rows.groupby("user_id")["user_id"].transform("size").to_numpy()
    n_valid = np.maximum(1, np.round(valid_fraction * size)).astype(int)
    n_test = np.maximum(1, np.round(test_fraction * size)).astype(int)
    rank = rows["_rank"].to_numpy()
    eligible = size >= min_positives
    parts = np.full(len(rows), "train", dtype=object)
    parts[eligible & (rank < n_valid + n_test)] = "test"
    parts[eligible & (rank < n_valid)] = "valid"
    if not (parts == "test").any():
        raise ProtocolError(f"no user has at least {min_positives} positives, so nothing can be held out; "
                            "lower min_positives")
    parts = move_unknown_back(rows, parts)
    rows = rows.drop(columns=["_draw", "_rank"])
    params = {"valid_fraction": valid_fraction, "test_fraction": test_fraction, "min_positives": min_positives}
    return SplitParts("warm", seed, params, rows[parts == "train"], rows[parts == "valid"], rows[parts == "test"])
