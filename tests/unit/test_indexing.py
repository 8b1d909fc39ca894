"""Indexing a split for models: sorted id maps, positives-only matrix, queries for known and new entities."""

from __future__ import annotations

import numpy as np
import pandas as pd

from engine.core.data import seen_mask
from engine.data.dataset import Dataset, Feedback
from engine.data.indexing import build_train_data, item_query, user_query


def _train() -> pd.DataFrame:
    return pd.DataFrame({
        "user_id": ["u2", "u1", "u1", "u3"],
        "item_id": ["i1", "i1", "i2", "i3"],
        "weight": [1.0, 1.0, 0.0, 2.0],
        "rating": [5.0, 4.0, 2.0, 5.0],
    })


def test_train_matrix_holds_positives_only_and_ratings_hold_every_rated_row():
    data = build_train_data(_train())
    assert list(data.user_ids) == ["u1", "u2", "u3"]
    assert list(data.item_ids) == ["i1", "i2", "i3"]
    np.testing.assert_array_equal(data.matrix.toarray(), [[1, 0, 0], [1, 0, 0], [0, 0, 2]])
    np.testing.assert_array_equal(data.ratings.toarray(), [[4, 2, 0], [5, 0, 0], [0, 0, 5]])


def test_user_query_marks_new_users_and_carries_revealed_history():
    data = build_train_data(_train())
    revealed = pd.DataFrame({"user_id": ["new"], "item_id": ["i3"]})
    query = user_query(data, ["u3", "new"], revealed=revealed)
    assert query.index.tolist() == [2, -1]
    np.testing.assert_array_equal(query.history.toarray(), [[0, 0, 2], [0, 0, 1]])


def test_item_query_for_a_new_item_uses_its_revealed_users():
    data = build_train_data(_train())
    revealed = pd.DataFrame({"user_id": ["u1"], "item_id": ["fresh"]})
    query = item_query(data, ["i1", "fresh"], revealed=revealed)
    assert query.index.tolist() == [0, -1]
    np.testing.assert_array_equal(query.history.toarray(), [[1, 1, 0], [1, 0, 0]])


def test_seen_mask_covers_training_items_and_revealed_new_items():
    data = build_train_data(_train())
    users = user_query(data, ["u1", "u3"])
    items = item_query(data, ["i1", "i3", "fresh"], revealed=pd.DataFrame({"user_id": ["u3"], "item_id": ["fresh"]}))
    mask = seen_mask(users, items).numpy()
    np.testing.assert_array_equal(mask, [[True, False, False], [False, True, True]])


def test_features_follow_dataset_attributes_for_cold_users_too():
    interactions = _train()[["user_id", "item_id", "rating"]]
    users = pd.DataFrame({"user_id": ["u1", "u2", "u3", "cold"], "job": ["a", "b", "a", "b"]})
    dataset = Dataset(interactions, users=users, user_kinds={"job": "categorical"}, feedback=Feedback("explicit", 4.0))
    data = build_train_data(dataset.positives(), dataset)
    query = user_query(data, ["cold"])
    assert data.user_features is not None
    np.testing.assert_array_equal(query.features.toarray(), [[0, 1]])


def test_explicit_positives_apply_the_threshold_and_implicit_positives_the_event_weights():
    frame = pd.DataFrame({"user_id": ["a", "a", "b"], "item_id": ["x", "y", "x"], "rating": [5.0, 3.0, 4.0],
                          "event": ["buy", "view", "skip"]})
    explicit = Dataset(frame, feedback=Feedback("explicit", 4.0)).positives()
    assert sorted(zip(explicit.user_id, explicit.item_id)) == [("a", "x"), ("b", "x")]
    implicit = Dataset(frame, feedback=Feedback("implicit", event_weights={"buy": 3.0, "view": 1.0, "skip": 0.0})).positives()
    assert dict(zip(implicit.item_id + implicit.user_id, implicit.weight)) == {"xa": 3.0, "ya": 1.0}
