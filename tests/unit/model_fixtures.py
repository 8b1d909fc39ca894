"""Hand-made tiny datasets whose right answers are obvious, for model-specific tests."""

from __future__ import annotations

import pandas as pd

from engine.core.data import TrainData
from engine.data.dataset import Dataset
from engine.data.indexing import build_train_data


def interactions(pairs: list[tuple[str, str]], timestamps: list[int] | None = None) -> pd.DataFrame:
    """A positive-interactions frame from (user, item) pairs, optionally with unix timestamps."""
    frame = pd.DataFrame(pairs, columns=["user_id", "item_id"]).assign(weight=1.0)
    if timestamps is not None:
        frame["timestamp"] = timestamps
    return frame


def two_taste_world() -> tuple[Dataset, TrainData]:
    """Women (f1..f3) like items a and b, men (m1..m3) like items x and y; item c is liked by everyone once.

    Items carry a `genre` (a, b: drama; x, y: action; c, n1: drama; n2: action) so content and attribute models
    have a signal; n1 and n2 are never interacted with (new items).
    """
    pairs = [("f1", "a"), ("f1", "b"), ("f2", "a"), ("f2", "b"), ("f3", "a"), ("f3", "c"),
             ("m1", "x"), ("m1", "y"), ("m2", "x"), ("m2", "y"), ("m3", "x"), ("m3", "c")]
    users = pd.DataFrame({"user_id": ["f1", "f2", "f3", "m1", "m2", "m3", "f_new", "m_new"],
                          "gender": ["F", "F", "F", "M", "M", "M", "F", "M"]})
    items = pd.DataFrame({"item_id": ["a", "b", "c", "x", "y", "n1", "n2"],
                          "genre": ["drama", "drama", "drama", "action", "action", "drama", "action"]})
    dataset = Dataset(interactions(pairs).drop(columns="weight"), items=items, users=users,
                      item_kinds={"genre": "categorical"}, user_kinds={"gender": "categorical"})
    return dataset, build_train_data(interactions(pairs), dataset)
