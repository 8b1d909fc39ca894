"""Content: attribute similarity to the items a user liked; new users through their segment's profile."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from engine.core.data import TrainData
from engine.data.dataset import Dataset
from engine.data.indexing import build_train_data, item_query, user_query
from engine.models._similarity import tfidf_rows
from engine.models.content import ContentRecommender
from tests.unit.model_fixtures import interactions, two_taste_world


def test_a_new_user_without_history_gets_the_profile_of_users_sharing_their_attributes() -> None:
    _, data = two_taste_world()
    scores = ContentRecommender({"segment_smoothing": 0.0}).fit(data).score(
        user_query(data, ["f_new", "m_new"]), item_query(data, ["n1", "n2"]))
    assert scores[0, 0] > scores[0, 1]
    assert scores[1, 1] > scores[1, 0]


def test_content_without_item_attributes_is_refused_with_what_to_do() -> None:
    data = build_train_data(interactions([("u1", "a")]))
    with pytest.raises(ValueError, match="needs item attributes.*add an items table"):
        ContentRecommender().fit(data)


def _tagged_world() -> TrainData:
    """Five items whose tags appear on x: 4 items, y, z, w: 2 items each; three users, one of them heavy."""
    items = pd.DataFrame({"item_id": list("abcde"), "tags": ["x|y", "x|y", "x|z", "z|w", "w|x"]})
    pairs = [("heavy", i) for i in "abcde"] + [("light", "a"), ("other", "d")]
    dataset = Dataset(interactions(pairs).drop(columns="weight"), items=items, item_kinds={"tags": "multi"})
    return build_train_data(interactions(pairs), dataset)


def _item_vector(model: ContentRecommender, data: TrainData, item: str) -> dict[str, float]:
    row = model.train_items[list(data.item_ids).index(item)].toarray().ravel()
    return {label.split("=")[1]: float(v) for label, v in zip(data.item_features.columns, row) if v}


def test_tag_weights_are_their_smoothed_idf_over_the_catalogue_scaled_to_unit_length() -> None:
    data = _tagged_world()
    model = ContentRecommender({"min_df": 1}).fit(data)
    idf_x, idf_y = np.log(6 / 5) + 1, np.log(6 / 3) + 1  # x on 4 of 5 items, y on 2
    norm = np.hypot(idf_x, idf_y)
    assert _item_vector(model, data, "a") == pytest.approx({"x": idf_x / norm, "y": idf_y / norm})
    encoded = ContentRecommender({"weighting": "encoded", "min_df": 1}).fit(data)
    assert _item_vector(encoded, data, "a") == pytest.approx({"x": 0.5 ** 0.5, "y": 0.5 ** 0.5})


def test_values_on_too_few_or_too_many_items_are_dropped() -> None:
    data = _tagged_world()
    assert _item_vector(ContentRecommender({"min_df": 3}).fit(data), data, "a") == pytest.approx({"x": 1.0})
    assert _item_vector(ContentRecommender({"min_df": 1, "max_df": 0.7}).fit(data), data, "a") == pytest.approx(
        {"y": 1.0})


def test_repeated_words_count_sublinearly_and_numerics_pass_through() -> None:
    idf = np.array([1.5, 2.0, 1.0])
    encoded = np.array([3 * 1.5, 1 * 2.0]) / np.hypot(3 * 1.5, 2.0)  # a text field said "p p p q", then a z-score
    matrix = sp.csr_matrix(np.r_[encoded, -0.7][None, :])
    args = (idf, np.ones(3, dtype=bool), np.array([0, 0, 1]), np.array([True, True, False]),
            np.array([False, False, True]))
    sublinear = tfidf_rows(matrix, *args, sublinear_tf=True).toarray().ravel()
    expected = np.array([(1 + np.log(3)) * 1.5, 2.0])
    np.testing.assert_allclose(sublinear, np.r_[expected / np.linalg.norm(expected), -0.7])
    np.testing.assert_allclose(tfidf_rows(matrix, *args, sublinear_tf=False).toarray().ravel(), matrix.toarray().ravel())


def test_a_heavy_users_profile_has_unit_length_and_damped_entries() -> None:
    data = _tagged_world()
    model = ContentRecommender({"profile_damping": 0.5}).fit(data)
    profiles = model.user_profiles(user_query(data, ["heavy", "light"])).toarray()
    np.testing.assert_allclose(np.linalg.norm(profiles, axis=1), [1.0, 1.0])
    summed = np.asarray(model.train_items.sum(axis=0)).ravel()  # the heavy user had every item
    np.testing.assert_allclose(profiles[0], np.sqrt(summed) / np.linalg.norm(np.sqrt(summed)), rtol=1e-5)
