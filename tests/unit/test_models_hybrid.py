"""The LightFM-style hybrid: new items and new users are served from their attributes alone."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from engine.data.indexing import item_query, user_query
from engine.models.hybrid_mf import HybridMFRecommender
from engine.models.registry import create_model
from tests.unit.gradient_world import planted_split, test_ndcg
from tests.unit.model_fixtures import two_taste_world

FAST = {"epochs": 10, "batch_size": 256, "lr": 0.01, "n_factors": 16}


def test_features_only_hybrid_ranks_new_items_far_better_than_random() -> None:
    _, train = planted_split("cold-item")
    hybrid = HybridMFRecommender({**FAST, "use_item_ids": False}, seed=0).fit(train)
    random = create_model("random", seed=0).fit(train)
    assert test_ndcg(hybrid, "cold-item") > 1.5 * test_ndcg(random, "cold-item")


def test_hybrid_serves_new_users_from_attributes_better_than_global_popularity() -> None:
    _, train = planted_split("cold-user")
    hybrid = HybridMFRecommender(FAST, seed=0).fit(train)
    popular = create_model("mostpop", seed=0).fit(train)
    assert test_ndcg(hybrid, "cold-user") > 1.2 * test_ndcg(popular, "cold-user")


def test_without_item_ids_an_item_is_its_attributes_and_with_ids_it_is_more() -> None:
    _, train = planted_split("cold-item")
    users = user_query(train, train.user_ids[:5])
    shared_attributes = sp.csr_matrix(np.repeat(train.item_features.rows(train.item_ids[:1]).toarray(), 2, axis=0))
    for use_item_ids, expect_equal in ((False, True), (True, False)):
        hybrid = HybridMFRecommender({**FAST, "epochs": 2, "use_item_ids": use_item_ids}, seed=0).fit(train)
        items = item_query(train, train.item_ids[:2])
        items.features = shared_attributes  # two different known items given the same attributes
        scores = hybrid.score(users, items).numpy()
        assert np.array_equal(scores[:, 0], scores[:, 1]) == expect_equal


def test_switching_off_ids_on_a_side_without_attributes_is_refused_with_advice() -> None:
    _, data = two_taste_world()
    data.user_features = None
    with pytest.raises(ValueError, match="turn use_user_ids on"):
        HybridMFRecommender({**FAST, "use_user_ids": False}).fit(data)
