"""The evaluator: every test user scored, full ranking over declared candidates, honest not-applicable slices."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import engine.metrics.evaluation as evaluation_module
from engine.data.dataset import Dataset
from engine.data.indexing import build_train_data
from engine.data.synthetic import generate_synthetic
from engine.metrics.document import NotApplicable
from engine.metrics.evaluation import evaluate, make_validator
from engine.runs.protocol_catalog import make_split
from tests.unit.evaluation_models import PreferenceModel, RatingModel, WarmOnlyModel


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return generate_synthetic(n_users=120, n_items=70, n_interactions=3500, seed=11)


@pytest.fixture(scope="module")
def cold_item(dataset):
    split = make_split(dataset, "cold-item", seed=1)
    return split, build_train_data(split.train, dataset)


def oracle(split) -> PreferenceModel:
    """Scores every held-out positive above everything else."""
    truth = pd.concat([s.truth for s in split.test])
    return PreferenceModel({(u, i): 1.0 for u, i in zip(truth["user_id"], truth["item_id"])})


def test_every_test_user_of_every_slice_is_evaluated(cold_item):
    split, train = cold_item
    result = evaluate(PreferenceModel(seed=3), train, split.test, ks=(10,), n_bootstrap=50)
    for evaluation_slice in split.test:
        scored = set(result.per_user.loc[result.per_user["slice"] == evaluation_slice.name, "user_id"])
        assert scored == set(evaluation_slice.users)
        assert result.slices[evaluation_slice.name]["ndcg@10"].n_users == len(evaluation_slice.users)


def test_a_perfect_model_scores_one_on_ranking_metrics(cold_item):
    split, train = cold_item
    result = evaluate(oracle(split), train, split.test, ks=(5, 20), n_bootstrap=50)
    cold = result.slices["cold-item"]
    assert cold["ndcg@5"].mean == pytest.approx(1.0)
    assert cold["map@20"].mean == pytest.approx(1.0)
    assert cold["auc"].mean == pytest.approx(1.0)
    per_user = result.per_user.loc[result.per_user["slice"] == "cold-item"]
    positives = split.test[[s.name for s in split.test].index("cold-item")].truth.groupby("user_id").size()
    expected_recall = (np.minimum(positives, 5) / positives).reindex(per_user["user_id"]).to_numpy()
    assert np.allclose(per_user["recall@5"].to_numpy(), expected_recall)


def test_training_positives_are_never_recommended(cold_item):
    split, train = cold_item
    seen = {(u, i): 5.0 for u, i in zip(split.train["user_id"], split.train["item_id"])}
    result = evaluate(PreferenceModel(seen), train, split.test, ks=(10,), n_bootstrap=0, recommendations=True)
    lists = result.recommendations["warm"]
    assert not set(zip(lists["user_id"], lists["item_id"])) & set(seen)
    assert lists.groupby("user_id")["rank"].apply(lambda r: list(r) == list(range(1, len(r) + 1))).all()


def test_recommendations_come_from_the_declared_candidates(cold_item):
    split, train = cold_item
    result = evaluate(PreferenceModel(seed=1), train, split.test, ks=(10,), n_bootstrap=0, recommendations=True)
    for evaluation_slice in split.test:
        recommended = set(result.recommendations[evaluation_slice.name]["item_id"])
        assert recommended <= set(evaluation_slice.candidate_items)
    assert set(result.recommendations["cold-item"]["item_id"]) <= set(split.cold_items)


def test_a_model_that_cannot_serve_new_items_is_reported_not_applicable_with_its_reason(cold_item):
    split, train = cold_item
    result = evaluate(WarmOnlyModel(), train, split.test, ks=(10,), n_bootstrap=0)
    assert result.slices["cold-item"] == NotApplicable(
        not_applicable="WarmOnly cannot score items it never saw in training (it does not use item attributes)")
    assert "ndcg@10" in result.slices["warm"]
    assert set(result.per_user["slice"]) == {"warm"}


def test_tied_scores_rank_candidates_in_a_seeded_random_order_not_by_id(cold_item):
    split, train = cold_item
    result = evaluate(PreferenceModel(), train, split.test, ks=(10,), n_bootstrap=0, recommendations=True)
    first_list = result.recommendations["warm"].groupby("user_id")["item_id"].apply(list).iloc[0]
    assert first_list != sorted(split.train["item_id"].unique())[:10]
    again = evaluate(PreferenceModel(), train, split.test, ks=(10,), n_bootstrap=0, recommendations=True)
    pd.testing.assert_frame_equal(result.recommendations["warm"], again.recommendations["warm"])


def test_chunking_over_users_does_not_change_any_value(cold_item, monkeypatch):
    split, train = cold_item
    model = PreferenceModel({(u, i): float(len(u + i)) for u, i in zip(split.train["user_id"], split.train["item_id"])})
    whole = evaluate(model, train, split.test, ks=(10,), n_bootstrap=0)
    monkeypatch.setattr(evaluation_module, "CHUNK_ELEMENTS", 400)
    chunked = evaluate(model, train, split.test, ks=(10,), n_bootstrap=0)
    pd.testing.assert_frame_equal(whole.per_user, chunked.per_user)


def test_rating_models_get_rmse_and_mae_over_held_out_ratings(dataset):
    split = make_split(dataset, "warm", seed=2)
    train = build_train_data(split.train, dataset)
    result = evaluate(RatingModel(default_score=4.0), train, split.test, ks=(10,), n_bootstrap=100)
    ratings = split.test[0].truth["rating"].to_numpy()
    assert result.slices["warm"]["rmse"].mean == pytest.approx(np.sqrt(np.mean((ratings - 4.0) ** 2)))
    assert result.slices["warm"]["mae"].mean == pytest.approx(np.mean(np.abs(ratings - 4.0)))
    low, high = result.slices["warm"]["mae"].ci
    assert low <= result.slices["warm"]["mae"].mean <= high


def test_beyond_accuracy_metrics_are_reported_per_slice(cold_item):
    split, train = cold_item
    result = evaluate(PreferenceModel(seed=2), train, split.test, ks=(10,), n_bootstrap=0)
    warm = result.slices["warm"]
    assert 0 < warm["coverage@10"].mean <= 1
    assert 0 <= warm["popularity@10"].mean <= 1
    assert warm["novelty@10"].mean > 0 and 0 <= warm["diversity@10"].mean <= 1


def test_validator_scores_the_protocols_validation_slice_never_test(cold_item):
    split, train = cold_item
    validator = make_validator(train, split, "ndcg@10")
    model = oracle(split)
    assert validator.slice_for(model).name == "cold-item"
    valid_only = evaluate(model, train, [split.valid[0]], ks=(10,), n_bootstrap=0)
    assert validator(model) == pytest.approx(valid_only.slices["cold-item"]["ndcg@10"].mean)
    assert validator(model) < 1.0, "the oracle knows test rows only, so it is not perfect on validation"
    assert validator.slice_for(WarmOnlyModel()).name == "warm"


def test_bad_cut_offs_and_validation_metrics_are_rejected(cold_item):
    split, train = cold_item
    with pytest.raises(ValueError, match="cut-offs"):
        evaluate(PreferenceModel(), train, split.test, ks=(0,))
    with pytest.raises(ValueError, match="must look like ndcg@20"):
        make_validator(train, split, "ndcg")


def test_few_shot_users_never_get_their_revealed_items_recommended(dataset):
    split = make_split(dataset, "few-shot-user", seed=1, params={"shots": "1,3", "overall_shots": 3})
    train = build_train_data(split.train, dataset)
    k3 = next(s for s in split.test if s.name == "few-shot-user-k3")
    revealed = {(u, i): 9.0 for u, i in zip(k3.revealed["user_id"], k3.revealed["item_id"])}
    result = evaluate(PreferenceModel(revealed), train, [k3], ks=(10,), n_bootstrap=0, recommendations=True)
    lists = result.recommendations["few-shot-user-k3"]
    assert set(lists["user_id"]) == set(k3.users)
    assert not set(zip(lists["user_id"], lists["item_id"])) & set(revealed)
    history = result.per_user.set_index("user_id")["history"]
    assert (history == 3).all(), "a few-shot user's history is exactly the revealed rows"


@pytest.mark.parametrize("protocol", ["warm", "cold-user", "cold-both", "few-shot-item", "temporal"])
def test_every_slice_of_every_protocol_evaluates_all_its_users(dataset, protocol):
    split = make_split(dataset, protocol, seed=3)
    train = build_train_data(split.train, dataset)
    result = evaluate(PreferenceModel(seed=1), train, split.test, ks=(5,), n_bootstrap=0, beyond=False)
    assert set(result.slices) == {s.name for s in split.test}
    for evaluation_slice in split.test:
        assert result.slices[evaluation_slice.name]["ndcg@5"].n_users == len(evaluation_slice.users)
