"""SVD++: predicts held-out ratings better than the mean, and folds new users in through their revealed items."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
import pytest

from engine.core.data import TrainData
from engine.data.indexing import build_train_data, item_query, user_query
from engine.data.synthetic import generate_synthetic
from engine.models.svdpp import SVDPPRecommender
from tests.unit.model_fixtures import two_taste_world

FAST = {"epochs": 40, "batch_size": 256, "lr": 0.003, "n_factors": 8, "patience": 0}


@lru_cache(maxsize=1)
def _rated_world() -> tuple[SVDPPRecommender, TrainData, pd.DataFrame]:
    """SVD++ fitted on 80% of a synthetic shop's ratings; the other 20% (of known users and items) held out."""
    dataset = generate_synthetic(n_users=200, n_items=80, n_interactions=5000, seed=1)
    rows = dataset.interactions.assign(weight=(dataset.interactions["rating"] >= 4).astype("float64"))
    held = rows.sample(frac=0.2, random_state=0)
    train = build_train_data(rows.drop(index=held.index), dataset)
    held = held.loc[held["user_id"].isin(train.user_ids) & held["item_id"].isin(train.item_ids)]
    return SVDPPRecommender(FAST, seed=0).fit(train), train, held


def _predict(model: SVDPPRecommender, train: TrainData, pairs: pd.DataFrame) -> np.ndarray:
    scores = model.score(user_query(train, pairs["user_id"]), item_query(train, pairs["item_id"])).numpy()
    return np.diag(scores)


def test_svdpp_predicts_held_out_ratings_better_than_the_training_mean() -> None:
    model, train, held = _rated_world()
    predicted = _predict(model, train, held.head(400))
    truth = held.head(400)["rating"].to_numpy()
    model_rmse = np.sqrt(np.mean((predicted - truth) ** 2))
    mean_rmse = np.sqrt(np.mean((train.ratings.data.mean() - truth) ** 2))
    assert model_rmse < 0.95 * mean_rmse


def test_a_new_user_is_folded_in_through_the_implicit_factors_of_revealed_items() -> None:
    model, train, _ = _rated_world()
    donor = train.user_ids[0]
    liked = train.interactions.loc[train.interactions["user_id"] == donor, "item_id"]
    revealed = pd.DataFrame({"user_id": "newcomer", "item_id": liked, "weight": 1.0})
    items = item_query(train, train.item_ids)
    with_history = model.score(user_query(train, ["newcomer"], revealed=revealed), items).numpy()[0]
    without = model.score(user_query(train, ["newcomer"]), items).numpy()[0]
    module = model.module
    baseline = float(module.global_mean) + module.item_bias.weight.detach().squeeze(1).numpy()
    np.testing.assert_allclose(without, baseline, atol=1e-5)
    assert not np.allclose(with_history, without)


def test_svdpp_refuses_training_data_without_ratings() -> None:
    _, data = two_taste_world()
    with pytest.raises(ValueError, match="needs explicit ratings"):
        SVDPPRecommender(FAST).fit(data)


def test_svdpp_refuses_items_it_never_saw() -> None:
    model, train, _ = _rated_world()
    with pytest.raises(ValueError, match="not in training"):
        model.score(user_query(train, train.user_ids[:2]), item_query(train, ["never-seen"]))
