"""Few-shot ("limited labels") protocols: held-out users or items reveal k of their rows to the model at inference.

The held-out entities are chosen and halved into validation and test as in the strict cold protocols. Each one
reveals its first max(k) rows in time order (seeded random order without timestamps) and the rest is its test
truth; a slice per k reveals the first k of them, so every k is scored on the same held-out rows and the
cold-start curve compares like with like. Entities with at most max(k) usable rows are excluded and counted.
"""

from __future__ import annotations

from typing import Literal

import pandas as pd

from engine.data.dataset import Dataset
from engine.protocols.assemble import SplitParts
from engine.protocols.cold import check_warm_fractions, known_to, split_warm_records
from engine.protocols.common import ProtocolError, check_fraction, choose_entities, ordered_within, rows_to_split

DEFAULT_SHOTS = (1, 2, 3, 5, 10)


def check_shots(shots: tuple[int, ...] | list[int], overall_shots: int) -> tuple[int, ...]:
    """Validate the k values: positive, distinct, and including the k the `overall` slice uses."""
    values = tuple(sorted({int(k) for k in shots}))
    if not values or values[0] < 1:
        raise ProtocolError(f"shots={list(shots)!r} must be positive whole numbers such as 1,2,3,5,10")
    if overall_shots not in values:
        raise ProtocolError(f"overall_shots={overall_shots} must be one of shots={list(values)}")
    return values


def _few_shot_split(dataset: Dataset, seed: int, side: Literal["user", "item"], *, fraction: float,
                    shots: tuple[int, ...], overall_shots: int, valid_fraction: float,
                    test_fraction: float) -> SplitParts:
    check_fraction("cold_fraction", fraction, allow_zero=False)
    check_warm_fractions(valid_fraction, test_fraction)
    shots = check_shots(shots, overall_shots)
    own, other = (("user_id", "item_id") if side == "user" else ("item_id", "user_id"))
    rows = rows_to_split(dataset)
    valid_ids, test_ids = choose_entities(rows[own].to_numpy(), fraction, seed, f"few-shot-{side}s")
    held = rows[own].isin(set(valid_ids) | set(test_ids)).to_numpy()
    warm = rows.loc[~held].reset_index(drop=True)
    parts = split_warm_records(warm, seed, valid_fraction, test_fraction)
    train = warm.loc[parts == "train"]
    held_rows = ordered_within(known_to(train, rows.loc[held], other), own, seed, f"few-shot-{side}-order")
    counts = held_rows.groupby(own)[own].transform("size")
    max_k = shots[-1]
    usable = counts > max_k
    excluded = int(held_rows.loc[~usable, own].nunique())
    held_rows = held_rows.loc[usable]
    shown = held_rows["position"] < max_k
    revealed = held_rows.loc[shown].assign(shot=lambda f: f["position"] + 1).drop(columns="position")
    truth = held_rows.loc[~shown].drop(columns="position")
    in_valid_truth = truth[own].isin(set(valid_ids))
    in_valid_shown = revealed[own].isin(set(valid_ids))
    if (~in_valid_truth).sum() == 0:
        raise ProtocolError(f"no held-out {side} has more than {max_k} usable rows; lower the largest k or raise "
                            "cold_fraction")
    valid = pd.concat([warm.loc[parts == "valid"], truth.loc[in_valid_truth]], ignore_index=True)
    test = pd.concat([warm.loc[parts == "test"], truth.loc[~in_valid_truth]], ignore_index=True)
    kept = sorted(held_rows[own].unique())
    params = {"cold_fraction": fraction, "shots": list(shots), "overall_shots": overall_shots,
              "valid_fraction": valid_fraction, "test_fraction": test_fraction, f"excluded_{side}s": excluded}
    return SplitParts(f"few-shot-{side}", seed, params, train, valid, test,
                      valid_revealed=revealed.loc[in_valid_shown], test_revealed=revealed.loc[~in_valid_shown],
                      cold_users=kept if side == "user" else [], cold_items=kept if side == "item" else [],
                      shots=shots, overall_shots=overall_shots)


def few_shot_user_split(dataset: Dataset, seed: int = 0, *, cold_fraction: float = 0.2,
                        shots: tuple[int, ...] = DEFAULT_SHOTS, overall_shots: int = 3,
                        valid_fraction: float = 0.1, test_fraction: float = 0.1) -> SplitParts:
    """Held-out users reveal k rows each; slices `few-shot-user-k1`, ..., `warm`, `overall` (at `overall_shots`)."""
    return _few_shot_split(dataset, seed, "user", fraction=cold_fraction, shots=tuple(shots),
                           overall_shots=overall_shots, valid_fraction=valid_fraction, test_fraction=test_fraction)


def few_shot_item_split(dataset: Dataset, seed: int = 0, *, cold_fraction: float = 0.2,
                        shots: tuple[int, ...] = DEFAULT_SHOTS, overall_shots: int = 3,
                        valid_fraction: float = 0.1, test_fraction: float = 0.1) -> SplitParts:
    """Held-out items reveal k rows each, ranked among the part's held-out items; slices `few-shot-item-k1`, ...,
    `warm`, `overall` (at `overall_shots`)."""
    return _few_shot_split(dataset, seed, "item", fraction=cold_fraction, shots=tuple(shots),
                           overall_shots=overall_shots, valid_fraction=valid_fraction, test_fraction=test_fraction)
