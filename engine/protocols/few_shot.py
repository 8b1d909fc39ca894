"""Few-shot ("limited labels") protocols: held-out users or items reveal k of their rows to the model at inference.

The held-out entities are chosen and halved into validation and test as in the strict cold protocols. Each one
reveals its first max(k) rows in time order (seeded random order without timestamps) and the rest is its test
truth; a slice per k reveals the first k of them, so every k is scored on the same held-out rows and the
cold-start curve compares like with like. Entities with at most max(k) usable rows are excluded and counted.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field

from engine.data.dataset import Dataset
from engine.protocols.assemble import SplitParts
from engine.protocols.cold import HoldoutParams, check_warm_fractions, known_to, split_warm_records
from engine.protocols.common import ProtocolError, choose_entities, is_in, ordered_within, rows_to_split
from engine.protocols.declaration import ProtocolDeclaration, WholeNumbers
from engine.protocols.slices import few_shot_protocol

DEFAULT_SHOTS = (1, 2, 3, 5, 10)


class FewShotParams(HoldoutParams):
    """Parameters of the few-shot protocols: the entity holdout plus how many interactions each entity reveals."""

    shots: WholeNumbers = Field(DEFAULT_SHOTS, title="Shots",
                                description="How many interactions each held-out user or item reveals at inference, "
                                            "e.g. 1,2,3,5,10.")
    overall_shots: int = Field(3, ge=1, title="Overall shots",
                               description="The number of revealed interactions used in the 'overall' slice (one of "
                                           "the shots).")


def check_shots(shots: tuple[int, ...] | list[int], overall_shots: int) -> tuple[int, ...]:
    """Validate the k values: positive, distinct, and including the k the `overall` slice uses."""
    values = tuple(sorted({int(k) for k in shots}))
    if not values or values[0] < 1:
        raise ProtocolError(f"shots={list(shots)!r} must be positive whole numbers such as 1,2,3,5,10")
    if overall_shots not in values:
        raise ProtocolError(f"overall_shots={overall_shots} must be one of shots={list(values)}")
    return values


def _few_shot_split(dataset: Dataset, seed: int, params: FewShotParams, side: Literal["user", "item"]) -> SplitParts:
    check_warm_fractions(params)
    fraction, overall_shots = params.cold_fraction, params.overall_shots
    valid_fraction, test_fraction = params.valid_fraction, params.test_fraction
    shots = check_shots(params.shots, overall_shots)
    own, other = (("user_id", "item_id") if side == "user" else ("item_id", "user_id"))
    rows = rows_to_split(dataset)
    valid_ids, test_ids = choose_entities(rows[own], fraction, seed, f"few-shot-{side}s")
    held = is_in(rows[own], np.concatenate([valid_ids, test_ids]))
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
    in_valid_truth = is_in(truth[own], valid_ids)
    in_valid_shown = is_in(revealed[own], valid_ids)
    if (~in_valid_truth).sum() == 0:
        raise ProtocolError(f"no held-out {side} has more than {max_k} usable rows; lower the largest k or raise "
                            "cold_fraction")
    valid = pd.concat([warm.loc[parts == "valid"], truth.loc[in_valid_truth]], ignore_index=True)
    test = pd.concat([warm.loc[parts == "test"], truth.loc[~in_valid_truth]], ignore_index=True)
    kept = sorted(held_rows[own].unique())
    params = {"cold_fraction": fraction, "shots": list(shots), "overall_shots": overall_shots,
              "valid_fraction": valid_fraction, "test_fraction": test_fraction, f"excluded_{side}s": excluded}
    return SplitParts(few_shot_protocol(side), seed, params, train, valid, test,
                      valid_revealed=revealed.loc[in_valid_shown], test_revealed=revealed.loc[~in_valid_shown],
                      cold_users=kept if side == "user" else [], cold_items=kept if side == "item" else [],
                      shots=shots, overall_shots=overall_shots)


def few_shot_user_split(dataset: Dataset, seed: int, params: FewShotParams) -> SplitParts:
    """Held-out users reveal k rows each; slices `few-shot-user-k1`, ..., `warm`, `overall` (at `overall_shots`)."""
    return _few_shot_split(dataset, seed, params, "user")


def few_shot_item_split(dataset: Dataset, seed: int, params: FewShotParams) -> SplitParts:
    """Held-out items reveal k rows each, ranked among the part's held-out items; slices `few-shot-item-k1`, ...,
    `warm`, `overall` (at `overall_shots`)."""
    return _few_shot_split(dataset, seed, params, "item")


FEW_SHOT_USER = ProtocolDeclaration(
    few_shot_protocol("user"), "held-out users reveal only k of their interactions (k = 1, 2, 3, 5, 10 by default)",
    FewShotParams, few_shot_user_split)
FEW_SHOT_ITEM = ProtocolDeclaration(
    few_shot_protocol("item"),
    "held-out items reveal only k of their interactions and are ranked among the held-out items",
    FewShotParams, few_shot_item_split)
