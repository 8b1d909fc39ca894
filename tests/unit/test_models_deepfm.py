"""DeepFM: FM and deep parts over id and attribute fields; new items and users served through their fields."""

from __future__ import annotations

from functools import lru_cache

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


def test_scoring_all_pairs_matches_the_training_forward_over_user_and_item_fields() -> None:
    model = _fitted()
    _, train = planted_split("cold-item")
    users, items = user_query(train, train.user_ids[:4]), item_query(train, train.item_ids[:6])
    module = model.module
    user = module.user_terms(torch.arange(4), SparseRows.from_csr(users.features))
    item = module.item_terms(torch.arange(6), SparseRows.from_csr(items.features))
    # the aligned path: each user against all six items as a (4, 6) batch of candidates
    aligned = module.logits(user, tuple(t.unsqueeze(0).expand(4, *t.shape) for t in item), all_pairs=False)
    assert torch.allclose(model.score(users, items), aligned, atol=1e-5)


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
