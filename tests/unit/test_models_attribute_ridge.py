"""Attribute ridge: per-user regressions on item attributes for new items, a regression on user attributes for new
users, checked on planted worlds and against hand-computed values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.data.dataset import Dataset
from engine.data.indexing import build_train_data, item_query, user_query
from engine.models.attribute_ridge import AttributeRidgeRecommender
from engine.models.content import ContentRecommender
from tests.unit.model_fixtures import interactions, two_taste_world


@pytest.mark.parametrize("model_class", [ContentRecommender, AttributeRidgeRecommender])
def test_new_items_are_ranked_by_the_attributes_of_the_items_each_user_liked(model_class) -> None:
    _, data = two_taste_world()
    scores = model_class().fit(data).score(user_query(data, ["f1", "m1"]), item_query(data, ["n1", "n2"]))
    assert scores[0, 0] > scores[0, 1]  # f1 liked dramas, n1 is one
    assert scores[1, 1] > scores[1, 0]


def test_a_new_user_gets_what_users_sharing_their_attributes_liked_known_and_new_items_alike() -> None:
    _, data = two_taste_world()
    model = AttributeRidgeRecommender().fit(data)
    known = model.score(user_query(data, ["f_new", "m_new"]), item_query(data, ["a", "x"]))
    new = model.score(user_query(data, ["f_new", "m_new"]), item_query(data, ["n1", "n2"]))
    assert known[0, 0] > known[0, 1] and known[1, 1] > known[1, 0]
    assert new[0, 0] > new[0, 1] and new[1, 1] > new[1, 0]


def test_without_user_attributes_a_new_user_gets_shrunk_popularity_exactly() -> None:
    pairs = [("u1", "a"), ("u2", "a"), ("u3", "a"), ("u1", "b"), ("u2", "b"), ("u3", "c")]
    items = pd.DataFrame({"item_id": ["a", "b", "c"], "genre": ["x", "y", "x"]})
    dataset = Dataset(interactions(pairs).drop(columns="weight"), items=items, item_kinds={"genre": "categorical"})
    data = build_train_data(interactions(pairs), dataset)
    scores = AttributeRidgeRecommender({"user_l2": 2.0}).fit(data).score(user_query(data, ["stranger"]),
                                                                          item_query(data, ["a", "b", "c"]))
    # intercept only: W = (n + λ)⁻¹ Σ r with λ = 2 × n (the Gram's mean diagonal is n), n = 3 users
    assert scores[0].tolist() == pytest.approx([3 / 9, 2 / 9, 1 / 9], rel=1e-5)


def _passed_over_world() -> Dataset:
    """`fan` liked two items tagged `common`, one with `a` and one with `b`, and none of the eight items tagged
    `common` alone, which `crowd` users liked; a new item tagged `a` alone against one tagged `common` alone."""
    tags = {"fa": "a|common", "fb": "b|common", **{f"c{i}": "common" for i in range(8)},
            "new_a": "a", "new_common": "common"}
    pairs = [("fan", "fa"), ("fan", "fb")] + [(f"crowd{u}", f"c{i}") for u in range(4) for i in range(8)]
    items = pd.DataFrame({"item_id": list(tags), "tags": list(tags.values())})
    return Dataset(interactions(pairs).drop(columns="weight"), items=items, item_kinds={"tags": "multi"}), pairs


def test_an_attribute_on_many_items_a_user_passed_over_counts_against_it() -> None:
    dataset, pairs = _passed_over_world()
    data = build_train_data(interactions(pairs), dataset)
    users, items = user_query(data, ["fan"]), item_query(data, ["new_a", "new_common"])
    ridge = AttributeRidgeRecommender({"min_df": 1, "item_l2": 0.1}).fit(data).score(users, items)
    assert ridge[0, 0] > ridge[0, 1]  # learned from the eight common items fan never took
    content = ContentRecommender({"min_df": 1}).fit(data).score(users, items)
    assert content[0, 1] > content[0, 0]  # a cosine profile only adds up what was liked, common twice


def test_a_vocabulary_wider_than_the_kept_dimensions_is_reduced_and_still_ranks_the_planted_taste() -> None:
    rng = np.random.default_rng(0)
    vocabulary = [f"t{i}" for i in range(40)]
    tags = {f"i{i}": "|".join(rng.choice(vocabulary[:20] if i % 2 else vocabulary[20:], 3, replace=False))
            for i in range(60)}
    tags.update({"new_odd": "t1|t2|t3", "new_even": "t21|t22|t23"})
    pairs = [(f"odd{u}", f"i{i}") for u in range(5) for i in range(1, 60, 2)] + \
            [(f"even{u}", f"i{i}") for u in range(5) for i in range(0, 60, 2)]
    dataset = Dataset(interactions(pairs).drop(columns="weight"),
                      items=pd.DataFrame({"item_id": list(tags), "tags": list(tags.values())}),
                      item_kinds={"tags": "multi"})
    data = build_train_data(interactions(pairs), dataset)
    model = AttributeRidgeRecommender({"max_dimensions": 8, "min_df": 1}).fit(data)
    assert tuple(model.projection.shape) == (data.item_features.n_features, 8) and data.item_features.n_features > 30
    scores = model.score(user_query(data, ["odd0", "even0"]), item_query(data, ["new_odd", "new_even"]))
    assert scores[0, 0] > scores[0, 1] and scores[1, 1] > scores[1, 0]


def test_attribute_ridge_without_item_attributes_is_refused_with_what_to_do() -> None:
    data = build_train_data(interactions([("u1", "a")]))
    with pytest.raises(ValueError, match="needs item attributes.*add an items table"):
        AttributeRidgeRecommender().fit(data)
