"""Content: attribute similarity to the items a user liked; new users through their segment's profile."""

from __future__ import annotations

import pytest

from engine.data.indexing import build_train_data, item_query, user_query
from engine.models.content import ContentRecommender
from tests.unit.model_fixtures import interactions, two_taste_world


def test_new_items_are_ranked_by_similarity_to_the_users_liked_items() -> None:
    _, data = two_taste_world()
    scores = ContentRecommender().fit(data).score(user_query(data, ["f1", "m1"]), item_query(data, ["n1", "n2"]))
    assert scores[0, 0] > scores[0, 1]  # f1 liked dramas, n1 is one
    assert scores[1, 1] > scores[1, 0]


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
