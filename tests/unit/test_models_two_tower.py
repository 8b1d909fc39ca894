"""Two-tower: id + attribute towers with a softmax; serves new users and items through the attribute path."""

from __future__ import annotations

import torch

from engine.data.indexing import item_query, user_query
from engine.models.registry import create_model
from engine.models.two_tower import TwoTowerRecommender
from engine.training.feature_modules import SparseRows
from tests.unit.gradient_world import planted_split, test_ndcg

FAST = {"epochs": 10, "batch_size": 256, "lr": 0.003, "n_factors": 16, "hidden": 32}


def test_two_tower_ranks_new_items_and_new_users_far_better_than_random() -> None:
    for protocol in ("cold-item", "cold-user"):
        _, train = planted_split(protocol)
        model = TwoTowerRecommender(FAST, seed=0).fit(train)
        random = create_model("random", seed=0).fit(train)
        assert test_ndcg(model, protocol) > 1.5 * test_ndcg(random, protocol), protocol


def test_sampled_softmax_variant_learns_warm_preferences_too() -> None:
    _, train = planted_split("warm")
    model = TwoTowerRecommender({**FAST, "softmax": "sampled", "n_negatives": 16}, seed=0).fit(train)
    random = create_model("random", seed=0).fit(train)
    assert test_ndcg(model, "warm") > 3 * test_ndcg(random, "warm")


def test_tower_outputs_are_unit_vectors_so_scores_are_cosines() -> None:
    _, train = planted_split("warm")
    model = TwoTowerRecommender({**FAST, "epochs": 1}, seed=0).fit(train)
    users = user_query(train, train.user_ids)
    scores = model.score(users, item_query(train, train.item_ids))
    assert scores.abs().max() <= 1.0 + 1e-5
    vectors = model.module.users(torch.as_tensor(users.index), SparseRows.from_csr(users.features))
    assert torch.allclose(vectors.norm(dim=1), torch.ones(len(users)), atol=1e-5)
