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
from engine.protocols.common import (ProtocolError, choose_entities, is_in, move_unknown_back, record_parts,
                                     rows_to_split)
from engine.protocols.declaration import ProtocolDeclaration, ProtocolParams, fraction


class HoldoutParams(ProtocolParams):
    """Parameters of the entity-holdout protocols (cold and few-shot): who is held out, how the rest splits."""

    cold_fraction: float = fraction(0.2, "Cold fraction", "Share of users or items held out as cold (no training "
                                    "interaction); halved into validation and test by entity.", allow_zero=False)
    valid_fraction: float = fraction(0.1, "Valid fraction", "Share of the warm records used for validation.")
    test_fraction: float = fraction(0.1, "Test fraction", "Share of the warm records used for testing.")


def check_warm_fractions(params: HoldoutParams) -> None:
    """The record split of the warm part must leave rows for training (shared by the entity-holdout protocols)."""
    if params.valid_fraction + params.test_fraction >= 1:
        raise ProtocolError("valid_fraction + test_fraction must leave some warm rows for training (sum below 1)")


def split_warm_records(warm: pd.DataFrame, seed: int, valid_fraction: float, test_fraction: float) -> np.ndarray:
    """Record-level train / valid / test assignment of the warm rows, entities kept in training."""
    parts = record_parts(len(warm), valid_fraction, test_fraction, seed, "warm-records")
    return move_unknown_back(warm, parts)


def known_to(train: pd.DataFrame, rows: pd.DataFrame, column: str) -> pd.DataFrame:
    """The rows whose `column` entity appears in training."""
    return rows.loc[is_in(rows[column], train[column].unique())]


def _cold_split(dataset: Dataset, seed: int, params: HoldoutParams, *, cold_users: bool, cold_items: bool,
                protocol: str) -> SplitParts:
    check_warm_fractions(params)
    cold_fraction, valid_fraction, test_fraction = params.cold_fraction, params.valid_fraction, params.test_fraction
    rows = rows_to_split(dataset)
    empty = np.asarray([], dtype=object)
    valid_users, test_users = choose_entities(rows["user_id"], cold_fraction, seed, "cold-users") \
        if cold_users else (empty, empty)
    valid_items, test_items = choose_entities(rows["item_id"], cold_fraction, seed, "cold-items") \
        if cold_items else (empty, empty)
    user_cold = is_in(rows["user_id"], np.concatenate([valid_users, test_users]))
    item_cold = is_in(rows["item_id"], np.concatenate([valid_items, test_items]))
    warm = rows.loc[~user_cold & ~item_cold].reset_index(drop=True)
    parts = split_warm_records(warm, seed, valid_fraction, test_fraction)
    train = warm.loc[parts == "train"]
    cold = rows.loc[user_cold | item_cold]
    # a cold row belongs to the part of its cold user when there is one (cold-both follows the user), else its item
    in_valid = is_in(cold["user_id"], valid_users) | (~is_in(cold["user_id"], test_users)
                                                      & is_in(cold["item_id"], valid_items))
    cold_valid, cold_test = cold.loc[in_valid], cold.loc[~in_valid]
    if cold_users and not cold_items:
        cold_valid, cold_test = known_to(train, cold_valid, "item_id"), known_to(train, cold_test, "item_id")
    elif cold_items and not cold_users:
        cold_valid, cold_test = known_to(train, cold_valid, "user_id"), known_to(train, cold_test, "user_id")
    valid = pd.concat([warm.loc[parts == "valid"], cold_valid], ignore_index=True)
    test = pd.concat([warm.loc[parts == "test"], cold_test], ignore_index=True)
    if cold_test.empty:
        raise ProtocolError(f"the {protocol} split left no cold test rows; raise cold_fraction or use a larger dataset")
    return SplitParts(protocol, seed, params.model_dump(), train, valid, test,
                      cold_users=sorted(set(valid_users) | set(test_users)),
                      cold_items=sorted(set(valid_items) | set(test_items)))


def cold_item_split(dataset: Dataset, seed: int, params: HoldoutParams) -> SplitParts:
    """`cold_fraction` of items have no training row; slices `cold-item`, `cold-item-all`, `warm`, `overall`."""
    return _cold_split(dataset, seed, params, cold_users=False, cold_items=True, protocol=COLD_ITEM.name)


def cold_user_split(dataset: Dataset, seed: int, params: HoldoutParams) -> SplitParts:
    """`cold_fraction` of users have no training row; slices `cold-user`, `warm`, `overall`."""
    return _cold_split(dataset, seed, params, cold_users=True, cold_items=False, protocol=COLD_USER.name)


def cold_both_split(dataset: Dataset, seed: int, params: HoldoutParams) -> SplitParts:
    """`cold_fraction` of users and of items are cold; slices `cold-both` (new users on new items), `cold-user`,
    `cold-item`, `cold-item-all`, `warm`, `overall`."""
    return _cold_split(dataset, seed, params, cold_users=True, cold_items=True, protocol=COLD_BOTH.name)


COLD_ITEM = ProtocolDeclaration(
    "cold-item", "a share of the items has no training interaction, like items just added to a catalogue",
    HoldoutParams, cold_item_split)
COLD_USER = ProtocolDeclaration(
    "cold-user", "a share of the users has no training interaction, like people who just signed up",
    HoldoutParams, cold_user_split)
COLD_BOTH = ProtocolDeclaration(
    "cold-both", "a share of the users and of the items is new, and new users meet new items too",
    HoldoutParams, cold_both_split)
