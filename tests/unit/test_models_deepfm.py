"""DeepFM: FM and deep parts over id and attribute fields; new items and users served through their fields."""

from __future__ import annotations

from functools import lru_cache

import pytest
import torch

from engine.data.indexing import item_query, user_query
from engine.models.deepfm import DeepFMRecommender, fm_self
from engine.models.registry import create_model
from engine.training.feature_modules import SparseRows
from tests.unit.gradient_world import planted_split, test_ndcg

FAST = {"epochs": 10, "batch_size": 256, "lr": 0.003, "n_factors": 8, "mlp_layers": [32, 16]}


@lru_cache(maxsize=1)
def _fitted() -> DeepFMRecommender:
    return DeepFMRecommender(FAST, seed=0).fit(planted_split("cold-item")[1])


def test_deepfm_ranks_new_items_through_their_attribute_fields_far_better_than_random() -> None:
    _, train = planted_split("cold-item")
    random = create_model("random", seed=0).fit(train)
    assert test_ndcg(_fitted(), "cold-item") > 1.5 * test_ndcg(random, "cold-item")


def test_fm_term_equals_the_sum_of_every_pairwise_field_interaction() -> None:
    fields = torch.randn(3, 5, 4)
    brute = sum((fields[:, f] * fields[:, g]).sum(dim=1) for f in range(5) for g in range(f + 1, 5))
    assert torch.allclose(fm_self(fields), brute, atol=1e-5)


def test_scoring_matches_the_fields_logit_for_each_user_item_pair() -> None:
    model = _fitted()
    _, train = planted_split("cold-item")
    users, items = user_query(train, train.user_ids[:4]), item_query(train, train.item_ids[:6])
    module = model.module
    user_fields, user_first = module.users(torch.arange(4), SparseRows.from_csr(users.features))
    item_fields, item_first = module.items(torch.arange(6), SparseRows.from_csr(items.features))
    with torch.no_grad():
        for u in range(4):
            for i in range(6):
                fields = torch.cat([user_fields[u], item_fields[i]])
                deep = module.deep.rest(module.deep.user_in(user_fields[u].flatten())
                                        + module.deep.item_in(item_fields[i].flatten()))
                logit = module.global_bias + user_first[u] + item_first[i] + fm_self(fields) + module.deep_out(deep)
                assert float(model.score(users, items)[u, i]) == pytest.approx(float(logit), abs=1e-5)


def test_an_unseen_user_has_a_blank_id_field_and_is_scored_by_attributes() -> None:
    model = _fitted()
    _, train = planted_split("cold-item")
    known = user_query(train, train.user_ids[:1])
    stranger = user_query(train, train.user_ids[:1])
    stranger.index = stranger.index * 0 - 1  # same attributes, id unknown
    items = item_query(train, train.item_ids)
    assert not torch.equal(model.score(known, items), model.score(stranger, items))
    fields, _ = model.module.users(torch.tensor([-1]), SparseRows.from_csr(stranger.features))
    assert torch.equal(fields[0, 0], torch.zeros_like(fields[0, 0]))


def test_deepfm_defaults_to_batches_of_4096_with_the_learning_rate_scaled_to_match() -> None:
    # the speed-for-quality trade measured in docs/results.md (issue 18): a larger batch, the rate scaled with it
    config = DeepFMRecommender().config
    assert (config.batch_size, config.lr) == (4096, 0.004)
