"""Explanations point at real evidence in the training data: co-liked items, shared attributes, similar users."""

from __future__ import annotations

import pandas as pd
import pytest

from engine.analysis.explain import Explainer, describe_feature, describe_features, item_labels, reason_kind_for
from engine.data.dataset import Dataset
from engine.data.indexing import build_train_data


@pytest.fixture
def toy():
    # u1..u3 like a and b together; u4, u5 like c and d together; x likes only e.
    likes = {"u1": "ab", "u2": "ab", "u3": "abe", "u4": "cd", "u5": "cd", "x": "e"}
    interactions = pd.DataFrame([(u, i) for u, items in likes.items() for i in items], columns=["user_id", "item_id"])
    items = pd.DataFrame({"item_id": list("abcdef"), "title": ["Alpha", "Beta", "Gamma", "Delta", "Eps", "Phi"],
                          "genres": ["Comedy", "Comedy|Drama", "Horror", "Horror", "Drama", "Comedy"]})
    users = pd.DataFrame({"user_id": ["u1", "u2", "u3", "u4", "u5", "x", "new"],
                          "gender": ["F", "F", "F", "M", "M", "M", "F"]})
    dataset = Dataset(interactions, items, users, {"title": "ignore", "genres": "multi"}, {"gender": "categorical"})
    data = build_train_data(dataset.positives(), dataset)
    return data, Explainer(data, item_labels(items))


def test_co_liked_reason_names_the_history_item_most_liked_by_the_same_people(toy):
    data, explainer = toy
    reasons = explainer.because_you_liked(["a", "c"], ["b", "d"])
    assert reasons[0].text.startswith("because you liked Alpha")
    assert reasons[1].text.startswith("because you liked Gamma")
    assert {r.kind for r in reasons} == {"co-liked"}


def test_no_co_liked_reason_without_shared_likers_or_for_items_unseen_in_training(toy):
    _, explainer = toy
    assert explainer.because_you_liked(["c"], ["a", "f"]) == [None, None]
    assert explainer.because_you_liked([], ["a"]) == [None]


def test_attribute_reason_lists_values_shared_with_the_liked_items(toy):
    _, explainer = toy
    reasons = explainer.explain("attributes", ["b", "c"], history=["a"], user_row=None)
    assert reasons[0].text == "matches genres Comedy"
    assert reasons[1] is None  # Horror shares nothing with a Comedy


def test_similar_users_reason_reports_the_lift_of_the_users_own_attribute_value(toy):
    data, explainer = toy
    row = data.user_features.rows(["new"])
    reason = explainer.liked_by_similar_users(row, ["a", "c"])
    # 3 of the 3 women liked a, against 3 of 6 users overall; no woman liked c, so there is no reason to give
    assert reason[0].text == "liked by 100% of users with gender F (vs 50% overall)"
    assert reason[1] is None


def test_similar_users_shares_are_never_rounded_to_zero_and_need_real_support():
    # 1000 users, half of them women; "rare" is liked by 3 women and 1 man, "odd" by a single woman
    users = pd.DataFrame({"user_id": [f"u{i}" for i in range(1000)], "gender": ["F", "M"] * 500})
    likes = [(f"u{i}", "rare") for i in (0, 2, 4, 1)] + [("u6", "odd")]
    likes += [(f"u{i}", "common") for i in range(1000)]
    dataset = Dataset(pd.DataFrame(likes, columns=["user_id", "item_id"]), None, users, None,
                      {"gender": "categorical"})
    data = build_train_data(dataset.positives(), dataset)
    explainer = Explainer(data)
    reasons = explainer.liked_by_similar_users(data.user_features.rows(["u0"]), ["rare", "odd"])
    assert reasons[0].text == "liked by 0.6% of users with gender F (vs 0.4% overall)"
    # one liker is an anecdote: twice the overall share, but no reason to give
    assert reasons[1] is None
    assert [r.text for r in explainer.popular(["rare", "common"])] == ["liked by 0.4% of all users",
                                                                       "liked by 100% of all users"]


def test_reason_kind_follows_the_model_family_and_falls_back_to_segments_without_history():
    assert reason_kind_for("neighbourhood", has_history=True) == "co-liked"
    assert reason_kind_for("content", has_history=True) == "attributes"
    assert reason_kind_for("factorization", has_history=False) == "similar-users"
    assert reason_kind_for("popularity", has_history=True) == "popular"
    assert reason_kind_for("popularity", has_history=False, uses_user_features=True) == "similar-users"


def test_popular_reason_is_the_share_of_all_training_users(toy):
    _, explainer = toy
    assert [r.text for r in explainer.explain("popular", ["a", "e"], history=[], user_row=None)] == [
        "liked by 50% of all users", "liked by 33% of all users"]
    assert explainer.popular(["f"]) == [None]


def test_named_attribute_values_come_before_numeric_ranges_and_words(toy):
    data, _ = toy
    items = pd.DataFrame({"item_id": list("abcdef"),
                          "genres": ["Comedy", "Comedy", "Horror", "Horror", "Drama", "Drama"],
                          "year": [1990, 1990, 1995, 1995, 2020, 2021], "plot": ["space war"] * 2 + ["love"] * 4})
    dataset = Dataset(data.interactions[["user_id", "item_id"]], items, None,
                      {"genres": "multi", "year": "numeric", "plot": "text"})
    explainer = Explainer(build_train_data(dataset.positives(), dataset))
    # a and b share a year range and a plot word, but the genre is what a reader wants first
    assert explainer.explain("attributes", ["b"], history=["a"], user_row=None)[0].text == (
        "matches genres Comedy, similar year")


def test_feature_columns_read_as_words():
    assert describe_feature("genres=Comedy") == "genres Comedy"
    assert describe_feature("title~love") == "'love' in title"
    assert describe_feature("age:bin2") == "similar age"


def test_unknown_reason_kind_is_refused_with_the_known_ones(toy):
    _, explainer = toy
    with pytest.raises(ValueError, match="expected one of co-liked"):
        explainer.explain("magic", ["a"], history=[], user_row=None)


def test_on_movielens_itemknn_recommendations_are_explained_by_movies_the_user_rated_highly(ml100k_dir):
    from engine.data.canonical import read_canonical_folder
    from engine.data.indexing import item_query, user_query
    from engine.models.registry import create_model

    dataset = read_canonical_folder(ml100k_dir)
    data = build_train_data(dataset.positives(), dataset)
    explainer = Explainer(data, item_labels(dataset.items))
    model = create_model("itemknn").fit(data)
    _, positions = model.recommend(user_query(data, ["1"]), item_query(data, data.item_ids), 10)
    recommended = [str(data.item_ids[p]) for p in positions[0].tolist()]
    liked = [str(data.item_ids[i]) for i in data.matrix[data.user_ids.tolist().index("1")].indices]
    titles = {explainer.label(i) for i in liked}
    reasons = explainer.explain("co-liked", recommended, history=liked, user_row=None)
    assert all(r is not None for r in reasons)
    for reason in reasons:
        named = reason.text.removeprefix("because you liked ").rsplit(" (similarity", 1)[0]
        assert named in titles


def test_a_new_item_of_a_co_liked_answer_gets_what_it_shares_with_the_history_instead_of_an_empty_reason(toy):
    # 'f' (Phi, Comedy) has attributes but nobody liked it in training, like every item of a cold-item slice
    _, explainer = toy
    reasons = explainer.explain("co-liked", ["b", "f"], history=["a"], user_row=None)
    assert reasons[0].kind == "co-liked" and reasons[0].text.startswith("because you liked Alpha")
    assert reasons[1] is not None and reasons[1].kind == "attributes"
    assert reasons[1].text == "matches genres Comedy"


def test_values_of_one_attribute_are_named_after_it_once():
    assert describe_features(["tags=dilo", "tags=gepi", "year:bin3"]) == "tags dilo, gepi, similar year"
    assert describe_features(["genres=Comedy", "plot~love", "genres=Drama"]) == "genres Comedy, Drama, 'love' in plot"
    assert describe_features(["genres=Comedy"]) == "genres Comedy"


def test_a_new_user_nothing_is_known_about_is_given_the_popularity_evidence_not_blank_reasons(toy):
    """A new user on data without user attributes, who liked nothing, got an empty 'why' for every item."""
    data, explainer = toy
    empty = data.user_features.rows(["nobody"])  # an all-zero row: no attribute value set
    for user_row in (None, empty):
        reasons = explainer.explain("similar-users", ["a", "e"], history=[], user_row=user_row)
        assert [(r.text, r.kind) for r in reasons] == [("liked by 50% of all users", "popular"),
                                                       ("liked by 33% of all users", "popular")]
