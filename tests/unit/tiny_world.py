"""A tiny planted world for model tests: synthetic users and items whose attributes drive taste, split into
training data, held-out positives of known users, and users / items never seen in training (with and without a
few revealed interactions). Built once per process; small enough that every registered model fits in a moment."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from engine.core.data import ItemQuery, TrainData, UserQuery
from engine.data.indexing import build_train_data, item_query, user_query
from engine.data.synthetic import generate_synthetic

N_NEW_USERS = 8
N_NEW_ITEMS = 6
REVEALED_PER_USER = 3
REVEALED_PER_ITEM = 2


@dataclass
class TinyWorld:
    data: TrainData
    known_users: UserQuery
    """Training users who have held-out positives."""
    known_items: ItemQuery
    """Every training item: the candidates of the warm checks."""
    held_out: np.ndarray
    """Boolean (known_users x known_items): held-out positives, never in training."""
    new_users: UserQuery
    """Users never seen in training, attributes only."""
    revealed_users: UserQuery
    """The same new users with a few of their positives revealed."""
    new_items: ItemQuery
    """Items never seen in training, attributes only."""
    revealed_items: ItemQuery
    """The same new items with a few of their positives revealed."""


@lru_cache(maxsize=1)
def tiny_world() -> TinyWorld:
    """The shared planted world (seeded, so every test sees the same one)."""
    dataset = generate_synthetic(n_users=80, n_items=50, n_interactions=2000, seed=0)
    rows = dataset.interactions.copy()
    rows["weight"] = (rows["rating"] >= dataset.feedback.positive_threshold).astype("float64")
    rng = np.random.default_rng(0)
    new_user_ids = rng.choice(sorted(rows["user_id"].unique()), N_NEW_USERS, replace=False)
    new_item_ids = rng.choice(sorted(rows["item_id"].unique()), N_NEW_ITEMS, replace=False)
    is_new_user = rows["user_id"].isin(new_user_ids)
    is_new_item = rows["item_id"].isin(new_item_ids)

    warm = rows.loc[~is_new_user & ~is_new_item]
    positives = warm.loc[warm["weight"] > 0].sample(frac=1.0, random_state=0)
    rank = positives.groupby("user_id").cumcount()
    size = positives.groupby("user_id")["item_id"].transform("size")
    held = positives.loc[(size >= 4) & (rank < np.maximum(1, size // 5))]
    train = warm.drop(index=held.index)
    data = build_train_data(train, dataset)

    test_users = np.asarray(sorted(held["user_id"].unique()), dtype=object)
    known_users = user_query(data, test_users)
    known_items = item_query(data, data.item_ids)
    held_out = np.zeros((len(test_users), data.n_items), dtype=bool)
    held_out[pd.Index(test_users).get_indexer(held["user_id"]), pd.Index(data.item_ids).get_indexer(held["item_id"])] = True

    cold_user_rows = rows.loc[is_new_user & ~is_new_item & (rows["weight"] > 0)]
    revealed_u = cold_user_rows.groupby("user_id").head(REVEALED_PER_USER)
    cold_item_rows = rows.loc[is_new_item & ~is_new_user & (rows["weight"] > 0)]
    revealed_i = cold_item_rows.groupby("item_id").head(REVEALED_PER_ITEM)
    new_user_ids = np.asarray(sorted(new_user_ids), dtype=object)
    new_item_ids = np.asarray(sorted(new_item_ids), dtype=object)
    return TinyWorld(
        data=data,
        known_users=known_users,
        known_items=known_items,
        held_out=held_out,
        new_users=user_query(data, new_user_ids),
        revealed_users=user_query(data, new_user_ids, revealed=revealed_u),
        new_items=item_query(data, new_item_ids),
        revealed_items=item_query(data, new_item_ids, revealed=revealed_i),
    )
