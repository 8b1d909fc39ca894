"""BPR-MF: ranks positives above sampled negatives, and folds in unseen users and items from revealed interactions."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
import torch

from engine.core.data import TrainData
from engine.data.indexing import item_query, user_query
from engine.models.bpr import BPRRecommender
from engine.models.registry import create_model
from tests.unit.gradient_world import planted_split, test_ndcg

FAST = {"epochs": 15, "batch_size": 128, "lr": 0.01, "n_factors": 16}


@lru_cache(maxsize=1)
def _fitted() -> tuple[BPRRecommender, TrainData]:
    _, train = planted_split("warm")
    return BPRRecommender(FAST, seed=0).fit(train), train


def test_bpr_scores_training_positives_above_non_interacted_items() -> None:
    model, train = _fitted()
    scores = model.score(user_query(train, train.user_ids), item_query(train, train.item_ids)).numpy()
    positive = train.matrix.toarray() > 0
    assert scores[positive].mean() > scores[~positive].mean() + 0.5


def test_bpr_finds_held_out_positives_far_better_than_random() -> None:
    model, train = _fitted()
    random = create_model("random", seed=0).fit(train)
    assert test_ndcg(model, "warm") > 3 * test_ndcg(random, "warm")


def test_folding_in_a_known_users_history_recovers_their_ranking() -> None:
    model, train = _fitted()
    users = train.user_ids[np.asarray(train.matrix.getnnz(axis=1)) >= 8][:10]
    trained = model.score(user_query(train, users), item_query(train, train.item_ids)).numpy()
    rows = train.interactions.loc[train.interactions["user_id"].isin(users)]
    renamed = rows.assign(user_id="new-" + rows["user_id"].astype(str))
    folded = model.score(user_query(train, "new-" + pd.Index(users).astype(str), revealed=renamed),
                         item_query(train, train.item_ids)).numpy()
    correlations = [np.corrcoef(pd.Series(a).rank(), pd.Series(b).rank())[0, 1] for a, b in zip(trained, folded)]
    assert np.mean(correlations) > 0.6


def test_a_folded_in_item_is_ranked_highly_by_the_users_who_revealed_it() -> None:
    model, train = _fitted()
    fans = train.user_ids[:20]
    revealed = pd.DataFrame({"user_id": fans, "item_id": "brand-new", "weight": 1.0})
    items = item_query(train, [*train.item_ids, "brand-new"], revealed=revealed)
    fan_scores = model.score(user_query(train, fans), items)
    other_scores = model.score(user_query(train, train.user_ids[20:]), items)
    fan_rank = (fan_scores > fan_scores[:, -1:]).float().mean()
    other_rank = (other_scores > other_scores[:, -1:]).float().mean()
    assert fan_rank < other_rank


def test_factors_reproduce_the_scores_for_backbone_use() -> None:
    model, train = _fitted()
    users, items = model.factors()
    scores = model.score(user_query(train, train.user_ids), item_query(train, train.item_ids))
    assert torch.allclose(torch.from_numpy(users @ items.T), scores, atol=1e-5)


def test_sparse_embedding_updates_learn_as_well_as_dense_ones() -> None:
    _, train = planted_split("warm")
    dense = BPRRecommender({**FAST, "embedding_updates": "dense"}, seed=0).fit(train)
    sparse = BPRRecommender({**FAST, "embedding_updates": "sparse"}, seed=0).fit(train)
    assert sparse.module.user_factors.sparse and not dense.module.user_factors.sparse
    assert test_ndcg(sparse, "warm") > 0.8 * test_ndcg(dense, "warm")


def test_auto_embedding_updates_are_sparse_unless_weight_decay_needs_every_row() -> None:
    sizes = {"n_users": 100, "n_items": 50}
    assert BPRRecommender({}).build_module(sizes).user_factors.sparse
    assert not BPRRecommender({"weight_decay": 1e-4}).build_module(sizes).user_factors.sparse
    assert not BPRRecommender({"embedding_updates": "dense"}).build_module(sizes).user_factors.sparse