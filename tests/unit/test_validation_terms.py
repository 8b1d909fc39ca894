"""A validation score taken apart by user and by held-out item (the tuning rule's and auto's standard error)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.core.model import FitContext
from engine.data.indexing import build_train_data, dataset_features
from engine.data.synthetic import generate_synthetic
from engine.metrics.evaluation import make_validator
from engine.metrics.statistics import ValidationTerms, paired_gain, pooled_terms
from engine.models.registry import create_model
from engine.runs.protocol_catalog import make_split


@pytest.fixture(scope="module")
def cold_items():
    dataset = generate_synthetic(n_users=150, n_items=120, n_interactions=3000, seed=4)
    split = make_split(dataset, "cold-item", 4, {})
    train = build_train_data(split.train, dataset, dataset_features(dataset))
    models = {}
    for name in ("content", "attrridge"):
        models[name] = create_model(name, seed=4)
        models[name].fit(train, FitContext())
    return train, split, models


@pytest.mark.parametrize("metric", ["ndcg@20", "recall@3", "precision@2"])
def test_item_shares_add_up_to_the_validation_score_and_cover_every_held_out_item(cold_items, metric: str) -> None:
    train, split, models = cold_items
    validator = make_validator(train, split, metric, seed=4)
    terms = validator.terms(models["content"])
    assert terms.per_item.sum() == pytest.approx(validator(models["content"]), abs=1e-9)
    assert terms.per_user.mean() == pytest.approx(validator(models["content"]), abs=1e-9)
    held_out = split.valid[0].truth
    assert set(terms.per_item.index) == set(held_out.loc[held_out["user_id"].isin(terms.per_user.index), "item_id"])
    assert (terms.per_item >= 0).all() and (terms.per_item > 0).any()


def test_metrics_that_do_not_split_by_item_have_no_item_shares(cold_items) -> None:
    train, split, models = cold_items
    assert make_validator(train, split, "mrr@10", seed=4).terms(models["content"]).per_item is None


def test_a_model_against_itself_gains_nothing_with_no_error(cold_items) -> None:
    train, split, models = cold_items
    terms = make_validator(train, split, "ndcg@20", seed=4).terms(models["content"])
    same = paired_gain(terms, terms)
    assert same.gain == 0.0 and same.standard_error == 0.0 and same.n_items == len(terms.per_item)


def test_the_error_counts_items_on_top_of_users(cold_items) -> None:
    train, split, models = cold_items
    validator = make_validator(train, split, "ndcg@20", seed=4)
    content, attrridge = validator.terms(models["content"]), validator.terms(models["attrridge"])
    both = paired_gain(content, attrridge)
    users_only = paired_gain(ValidationTerms(content.per_user, None), ValidationTerms(attrridge.per_user, None))
    assert both.gain == users_only.gain == pytest.approx(validator(models["content"]) - validator(models["attrridge"]))
    assert both.standard_error > users_only.standard_error > 0
    difference = (content.per_user - attrridge.per_user).dropna()
    assert users_only.standard_error == pytest.approx(difference.std(ddof=1) / np.sqrt(len(difference)))
    item_difference = pd.concat([content.per_item, attrridge.per_item], axis=1).fillna(0).diff(axis=1).iloc[:, 1]
    assert both.standard_error ** 2 == pytest.approx(users_only.standard_error ** 2
                                                     + len(item_difference) * item_difference.var(ddof=1))


def test_pooled_terms_weigh_each_slice_by_its_users_and_keep_the_item_shares_summing_to_the_score(cold_items) -> None:
    train, split, models = cold_items
    validator = make_validator(train, split, "ndcg@20", seed=4)
    content = validator.terms(models["content"])
    fewer = ValidationTerms(content.per_user.iloc[:10] * 0.5, None)
    pooled = pooled_terms({"valid": content, "fold": fewer})
    n = content.per_user.notna().sum()
    expected = (content.per_user.sum() + fewer.per_user.sum()) / (n + 10)
    assert pooled.score == pytest.approx(expected)
    assert len(pooled.per_user) == n + 10  # the same user in two slices counts twice
    assert pooled.per_item is None  # one slice without item shares: the pooled error counts users only
    both = pooled_terms({"valid": content, "again": content})
    assert both.score == pytest.approx(content.score)
    assert both.per_item.sum() == pytest.approx(both.score)
    assert paired_gain(both, both).n_items == 2 * len(content.per_item)
