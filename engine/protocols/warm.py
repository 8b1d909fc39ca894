"""Warm protocol: a per-user record holdout; every test user and item was seen in training."""

from __future__ import annotations

import numpy as np

from pydantic import Field

from engine.data.dataset import Dataset
from engine.protocols.assemble import SplitParts
from engine.protocols.common import ProtocolError, move_unknown_back, rng_for, rows_to_split
from engine.protocols.declaration import ProtocolDeclaration, ProtocolParams, fraction


class WarmParams(ProtocolParams):
    """Parameters of the warm protocol."""

    valid_fraction: float = fraction(0.1, "Valid fraction", "Share of each user's records used for validation.",
                                     allow_zero=False)
    test_fraction: float = fraction(0.1, "Test fraction", "Share of each user's records used for testing.",
                                    allow_zero=False)
    min_positives: int = Field(5, ge=3, title="Min positives",
                               description="Users with fewer positives stay whole in training (at least 3: one "
                                           "train, one valid, one test row).")


def warm_split(dataset: Dataset, seed: int, params: WarmParams) -> SplitParts:
    """Hold out `valid_fraction` and `test_fraction` of each user's positives (at least one row each) for users
    with at least `min_positives` positives; lighter users stay whole in training."""
    valid_fraction, test_fraction, min_positives = params.valid_fraction, params.test_fraction, params.min_positives
    if valid_fraction + test_fraction >= 1:
        raise ProtocolError("valid_fraction + test_fraction must leave some rows for training (sum below 1)")
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
    return SplitParts(PROTOCOL.name, seed, params.model_dump(), rows[parts == "train"], rows[parts == "valid"],
                      rows[parts == "test"])


PROTOCOL = ProtocolDeclaration(
    "warm", "each user's positives are split into training, validation and test (nobody and nothing is new)",
    WarmParams, warm_split)
