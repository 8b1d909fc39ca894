"""The cold-start specialists and the sequence/attention models, each checked against its paper's idea.

All on one tiny planted dataset (engine.data.synthetic: tastes driven by user and item attributes), with small
networks and few epochs so each fit takes seconds on a shared CPU.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import scipy.sparse as sp
import pytest
import torch

from engine.core.data import TrainData
from engine.core.model import FitContext, Recommender
from engine.data.indexing import build_train_data, item_query, user_query
from engine.data.synthetic import generate_synthetic
from engine.metrics.evaluation import evaluate
from engine.models.aldi import teacher_qualifying_weights
from engine.models.registry import create_model
from engine.runs.protocol_catalog import make_split
from engine.protocols.split import Split
from engine.training.feature_modules import SparseRows

SMALL = {"backbone_factors": 16, "batch_size": 256}
FAST = {
    "dropoutnet": {**SMALL, "hidden": 32, "dim": 16, "epochs": 8, "lr": 0.003},
    "heater": {**SMALL, "hidden": 32, "dim": 16, "epochs": 8, "lr": 0.003},
    "aldi": {**SMALL, "hidden": 32, "epochs": 8, "lr": 0.003},
    "metaemb": {**SMALL, "hidden": 32, "epochs": 8, "lr": 0.003, "batch_size": 64},
    "item2vec": {"dim": 16, "epochs": 30, "lr": 0.02, "batch_size": 256},
    "sasrec": {"dim": 16, "heads": 2, "layers": 1, "max_len": 20, "epochs": 6, "batch_size": 256, "lr": 0.003},
}


@lru_cache(maxsize=None)
def planted(protocol: str) -> tuple[Split, TrainData]:
    dataset = generate_synthetic(n_users=200, n_items=120, n_interactions=6000, seed=3)
    split = make_split(dataset, protocol, seed=1)
    return split, build_train_data(split.train, dataset)


@lru_cache(maxsize=None)
def _fitted(name: str, protocol: str, overrides: tuple) -> Recommender:
    _, data = planted(protocol)
    return create_model(name, {**FAST[name], **dict(overrides)}, seed=0).fit(data, FitContext())


def fitted(name: str, protocol: str, **overrides) -> Recommender:
    """A model fitted once per (name, protocol, overrides) for the whole module: tests only read it."""
    return _fitted(name, protocol, tuple(sorted(overrides.items())))


def test_ndcg(model: Recommender, protocol: str, slice_name: str, k: int = 10) -> float:
    split, data = planted(protocol)
    chosen = next(s for s in split.test if s.name == slice_name)
    result = evaluate(model, data, [chosen], (k,), n_bootstrap=0, beyond=False)
    return result.slices[slice_name][f"ndcg@{k}"].mean


test_ndcg.__test__ = False  # a helper named for what it returns, not a test


def random_ndcg(protocol: str, slice_name: str, k: int = 10) -> float:
    return test_ndcg(create_model("random", seed=0).fit(planted(protocol)[1]), protocol, slice_name, k)


# -- DropoutNet ------------------------------------------------------------------------------------------------------
def test_dropoutnet_with_preference_dropout_beats_the_same_network_without_it_on_new_items():
    with_dropout = test_ndcg(fitted("dropoutnet", "cold-item", dropout=0.5), "cold-item", "cold-item")
    without = test_ndcg(fitted("dropoutnet", "cold-item", dropout=0.0), "cold-item", "cold-item")
    assert with_dropout > without + 0.02


def test_dropoutnet_serves_new_users_from_attributes_better_than_random():
    model = fitted("dropoutnet", "cold-user")
    assert test_ndcg(model, "cold-user", "cold-user") > random_ndcg("cold-user", "cold-user") + 0.05


# -- Heater ----------------------------------------------------------------------------------------------------------
def test_heater_randomized_training_beats_training_on_backbone_factors_only_for_new_items():
    randomized = test_ndcg(fitted("heater", "cold-item", randomize=0.5), "cold-item", "cold-item")
    never = test_ndcg(fitted("heater", "cold-item", randomize=0.0), "cold-item", "cold-item")
    assert randomized > never


def test_heater_content_transform_lands_near_each_warm_items_own_factors():
    model = fitted("heater", "cold-item")
    _, data = planted("cold-item")
    net = model.fitted_module()
    rows = SparseRows.from_csr(data.item_features.rows(data.item_ids))
    with torch.no_grad():
        transformed = net.items.transform(rows)
    own = ((transformed - net.backbone.items) ** 2).sum(dim=1).mean()
    shuffled = ((transformed - net.backbone.items.roll(7, dims=0)) ** 2).sum(dim=1).mean()
    assert own < 0.9 * shuffled


# -- ALDI ------------------------------------------------------------------------------------------------------------
def test_aldi_scores_warm_items_exactly_like_its_teacher():
    model = fitted("aldi", "cold-item")
    split, data = planted("cold-item")
    users = user_query(data, data.user_ids[:20])
    items = item_query(data, data.item_ids)
    net = model.fitted_module()
    teacher = net.backbone.users[:20] @ net.backbone.items.T
    assert torch.allclose(model.score(users, items), teacher)


def test_aldi_generates_new_items_better_than_random():
    model = fitted("aldi", "cold-item")
    assert test_ndcg(model, "cold-item", "cold-item") > random_ndcg("cold-item", "cold-item") + 0.05


def test_aldi_trusts_frequent_teachers_more_and_caps_the_weight():
    # item 0 liked by 3 one-item users, item 1 by one user who liked everything
    matrix = sp.csr_matrix(np.array([[1, 0, 0], [1, 0, 0], [1, 0, 0], [1, 1, 1]], dtype=np.float32))
    weights = teacher_qualifying_weights(matrix, cap=4.0)
    assert weights[0] > weights[1] > 0
    assert torch.all(weights <= np.tanh(4.0) + 1e-6)
    assert torch.equal(teacher_qualifying_weights(matrix, cap=0.0), torch.ones(3))


def test_aldi_refuses_new_users_with_a_reason():
    model = fitted("aldi", "cold-item")
    _, data = planted("cold-item")
    stranger = user_query(data, ["no-such-user"])
    with pytest.raises(ValueError, match="ALDI cannot score users it never saw"):
        model.score(stranger, item_query(data, data.item_ids[:5]))


# -- MetaEmb ---------------------------------------------------------------------------------------------------------
def test_metaemb_warm_up_improves_with_the_number_of_revealed_interactions():
    model = fitted("metaemb", "few-shot-user")
    one, five = (test_ndcg(model, "few-shot-user", f"few-shot-user-k{k}") for k in (1, 5))
    assert five > one


def test_metaemb_generated_embeddings_serve_new_items_better_than_random():
    model = fitted("metaemb", "cold-item")
    assert test_ndcg(model, "cold-item", "cold-item") > random_ndcg("cold-item", "cold-item") + 0.05


# -- Item2Vec and the self-attentive encoder -------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["item2vec", "sasrec"])
def test_history_readers_fold_in_few_shot_users_better_than_random(name):
    model = fitted(name, "few-shot-user")
    slice_name = "few-shot-user-k5"
    assert test_ndcg(model, "few-shot-user", slice_name) > random_ndcg("few-shot-user", slice_name) + 0.03


def test_item2vec_ranks_for_a_user_without_history_by_how_often_items_are_chosen():
    # with no items to sit next to, the log-probability of a candidate is its log Pn(j): popularity ** 0.75
    _, data = planted("few-shot-user")
    model = fitted("item2vec", "few-shot-user")
    nobody = user_query(data, ["someone new"])
    scores = model.score(nobody, item_query(data, data.item_ids)).numpy().ravel()
    popularity = np.asarray((data.matrix > 0).sum(axis=0)).ravel()
    assert np.argmax(scores) == np.argmax(popularity)
    assert np.corrcoef(np.argsort(np.argsort(scores)), np.argsort(np.argsort(popularity)))[0, 1] > 0.95


# -- persistence -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(FAST))
def test_saved_and_loaded_model_scores_new_and_known_entities_identically(name, tmp_path):
    protocol = "few-shot-user" if name in ("item2vec", "sasrec") else "cold-item"
    split, data = planted(protocol)
    model = fitted(name, protocol)
    evaluation_slice = split.test[0] if name in ("item2vec", "sasrec") else next(
        s for s in split.test if s.name == "cold-item-all")
    users = user_query(data, evaluation_slice.users[:15], evaluation_slice.revealed)
    items = item_query(data, evaluation_slice.candidate_items)
    model.save(tmp_path / name)
    loaded = type(model).load(tmp_path / name)
    assert torch.equal(model.score(users, items), loaded.score(users, items))
