"""Strict cold-start protocols by entity (the ColdRec / ALDI protocol): cold-item, cold-user and cold-both.

A fraction of entities is cold and has no training row at all; cold entities are halved by entity into validation
and test; the warm rows are split by record into train / warm-valid / warm-test, with held-out warm rows of
entities missing from training moved back to training. Cold rows whose other side is unknown to training are
dropped, because no model could score them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from engine.data.dataset import Dataset
from engine.protocols.assemble import SplitParts
from engine.protocols.common import (ProtocolError, check_fraction, choose_entities, move_unknown_back, record_parts,
                                     rows_to_split)


def check_warm_fractions(valid_fraction: float, test_fraction: float) -> None:
    """Validate the record split of the warm part (shared by the entity-holdout protocols)."""
    check_fraction("valid_fraction", valid_fraction)
    check_fraction("test_fraction", test_fraction)
    if valid_fraction + test_fraction >= 1:
        raise ProtocolError("valid_fraction + test_fraction must leave some warm rows for training (sum below 1)")


def split_warm_records(warm: pd.DataFrame, seed: int, valid_fraction: float, test_fraction: float) -> np.ndarray:
    """Record-level train / valid / test assignment of the warm rows, entities kept in training."""
    parts = record_parts(len(warm), valid_fraction, test_fraction, seed, "warm-records")
    return move_unknown_back(warm, parts)


def known_to(train: pd.DataFrame, rows: pd.DataFrame, column: str) -> pd.DataFrame:
    """The rows whose `column` entity appears in training."""
    return rows.loc[rows[column].isin(set(train[column]))]


def _cold_split(dataset: Dataset, seed: int, *, cold_users: bool, cold_items: bool, cold_fraction: float,
                valid_fraction: float, test_fraction: float, protocol: str) -> SplitParts:
    check_fraction("cold_fraction", cold_fraction, allow_zero=False)
    check_warm_fractions(valid_fraction, test_fraction)
    rows = rows_to_split(dataset)
    empty = np.asarray([], dtype=object)
    valid_users, test_users = choose_entities(rows["user_id"].to_numpy(), cold_fraction, seed, "cold-users") \
        if cold_users else (empty, empty)
    valid_items, test_items = choose_entities(rows["item_id"].to_numpy(), cold_fraction, seed, "cold-items") \
        if cold_items else (empty, empty)
    user_cold = rows["user_id"].isin(set(valid_users) | set(test_users)).to_numpy()
    item_cold = rows["item_id"].isin(set(valid_items) | set(test_items)).to_numpy()
    warm = rows.loc[~user_cold & ~item_cold].reset_index(drop=True)
    parts = split_warm_records(warm, seed, valid_fraction, test_fraction)
    train = warm.loc[parts == "train"]
    cold = rows.loc[user_cold | item_cold]
    # a cold row belongs to the part of its cold user when there is one (cold-both follows the user), else its item
    in_valid = cold["user_id"].isin(set(valid_users)) | (~cold["user_id"].isin(set(test_users))
                                                         & cold["item_id"].isin(set(valid_items)))
    cold_valid, cold_test = cold.loc[in_valid], cold.loc[~in_valid]
    if cold_users and not cold_items:
        cold_valid, cold_test = known_to(train, cold_valid, "item_id"), known_to(train, cold_test, "item_id")
    elif cold_items and not cold_users:
        cold_valid, cold_test = known_to(train, cold_valid, "user_id"), known_to(train, cold_test, "user_id")
    valid = pd.concat([warm.loc[parts == "valid"], cold_valid], ignore_index=True)
    test = pd.concat([warm.loc[parts == "test"], cold_test], ignore_index=True)
    if cold_test.empty:
        raise ProtocolError(f"the {protocol} split left no cold test rows; raise cold_fraction or use a larger dataset")
    params = {"cold_fraction": cold_fraction, "valid_fraction": valid_fraction, "test_fraction": test_fraction}
    return SplitParts(protocol, seed, params, train, valid, test,
                      cold_users=sorted(set(valid_users) | set(test_users)),
                      cold_items=sorted(set(valid_items) | set(test_items)))


def cold_item_split(dataset: Dataset, seed: int = 0, *, cold_fraction: float = 0.2, valid_fraction: float = 0.1,
                    test_fraction: float = 0.1) -> SplitParts:
    """`cold_fraction` of items have no training row; slices `cold-item`, `cold-item-all`, `warm`, `overall`."""
    return _cold_split(dataset, seed, cold_users=False, cold_items=True, cold_fraction=cold_fraction,
                       valid_fraction=valid_fraction, test_fraction=test_fraction, protocol="cold-item")


def cold_user_split(dataset: Dataset, seed: int = 0, *, cold_fraction: float = 0.2, valid_fraction: float = 0.1,
                    test_fraction: float = 0.1) -> SplitParts:
    """`cold_fraction` of users have no training row; slices `cold-user`, `warm`, `overall`."""
    return _cold_split(dataset, seed, cold_users=True, cold_items=False, cold_fraction=cold_fraction,
                       valid_fraction=valid_fraction, test_fraction=test_fraction, protocol="cold-user")


def cold_both_split(dataset: Dataset, seed: int = 0, *, cold_fraction: float = 0.2, valid_fraction: float = 0.1,
                    test_fraction: float = 0.1) -> SplitParts:
    """`cold_fraction` of users and of items are cold; slices `cold-both` (new users on new items), `cold-user`,
    `cold-item`, `cold-item-all`, `warm`, `overall`."""
    return _cold_split(dataset, seed, cold_users=True, cold_items=True, cold_fraction=cold_fraction,
                       valid_fraction=valid_fraction, test_fraction=test_fraction, protocol="cold-both")
