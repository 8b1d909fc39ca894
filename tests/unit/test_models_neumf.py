"""NeuMF: GMF and MLP towers fused; ids only, so warm users and items only."""

from __future__ import annotations

from functools import lru_cache

import pytest
import torch

from engine.data.indexing import item_query, user_query
from engine.models.neumf import NeuMFRecommender
from engine.models.registry import create_model
from tests.unit.gradient_world import planted_split, test_ndcg

FAST = {"epochs": 10, "batch_size": 256, "lr": 0.01, "n_factors": 8, "mlp_layers": [32, 16]}


@lru_cache(maxsize=1)
def _fitted() -> NeuMFRecommender:
    return NeuMFRecommender(FAST, seed=0).fit(planted_split("warm")[1])


def test_neumf_finds_held_out_positives_far_better_than_random() -> None:
    _, train = planted_split("warm")
    random = create_model("random", seed=0).fit(train)
    assert test_ndcg(_fitted(), "warm") > 3 * test_ndcg(random, "warm")


def test_scoring_every_pair_at_once_matches_scoring_each_pair_alone() -> None:
    model = _fitted()
    _, train = planted_split("warm")
    users, items = torch.arange(7), torch.arange(11)
    all_pairs = model.score(user_query(train, train.user_ids[:7]), item_query(train, train.item_ids[:11]))
    one_by_one = model.module(users.repeat_interleave(11), items.repeat(7)).view(7, 11)
    assert torch.allclose(all_pairs, one_by_one, atol=1e-5)


def test_neumf_refuses_unseen_items_and_users_saying_why() -> None:
    model = _fitted()
    _, train = planted_split("warm")
    with pytest.raises(ValueError, match="NeuMF cannot score 1 of 1 items"):
        model.score(user_query(train, train.user_ids[:2]), item_query(train, ["never-seen"]))
    with pytest.raises(ValueError, match="uses no attributes"):
        model.score(user_query(train, ["never-seen"]), item_query(train, train.item_ids[:3]))
