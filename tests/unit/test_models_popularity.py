"""Random, MostPopular and SegmentPopular: the reference points every other model is compared with."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.data.indexing import build_train_data, item_query, user_query
from engine.models.popularity import PopularityRecommender
from engine.models.random_model import RandomRecommender
from engine.models.segment_popularity import SegmentPopularityRecommender
from tests.unit.model_fixtures import interactions, two_taste_world

DAY = 86_400


def test_mostpop_ranks_items_by_their_number_of_training_positives() -> None:
    data = build_train_data(interactions([("u1", "a"), ("u2", "a"), ("u3", "a"), ("u1", "b"), ("u2", "b"), ("u3", "c")]))
    scores = PopularityRecommender().fit(data).score(user_query(data, ["u1"]), item_query(data, ["a", "b", "c"]))
    assert scores[0].tolist() == [3.0, 2.0, 1.0]


def test_recent_window_counts_only_positives_from_the_last_days_of_training() -> None:
    pairs = [("u1", "old"), ("u2", "old"), ("u3", "old"), ("u1", "new"), ("u2", "new")]
    stamps = [0, 0, 0, 100 * DAY, 100 * DAY]
    data = build_train_data(interactions(pairs, stamps))
    users, items = user_query(data, ["u3"]), item_query(data, ["old", "new"])
    all_time = PopularityRecommender().fit(data).score(users, items)[0].tolist()
    recent = PopularityRecommender({"window_days": 30}).fit(data).score(users, items)[0].tolist()
    assert all_time == [3.0, 2.0]
    assert recent == [0.0, 2.0]


def test_recent_window_without_timestamps_is_refused_with_how_to_fix_it() -> None:
    data = build_train_data(interactions([("u1", "a")]))
    with pytest.raises(ValueError, match="needs interaction timestamps.*leave the window empty"):
        PopularityRecommender({"window_days": 7}).fit(data)


def test_mostpop_scores_a_new_item_by_its_revealed_interactions() -> None:
    data = build_train_data(interactions([("u1", "a"), ("u2", "a"), ("u3", "b")]))
    revealed = pd.DataFrame({"user_id": ["u1", "u2", "u3"], "item_id": ["new"] * 3})
    scores = PopularityRecommender().fit(data).score(user_query(data, ["u1"]), item_query(data, ["a", "new"], revealed))
    assert scores[0].tolist() == [2.0, 3.0]


def test_segmentpop_gives_a_new_user_the_favourites_of_users_sharing_their_attributes() -> None:
    _, data = two_taste_world()
    model = SegmentPopularityRecommender({"smoothing": 1.0}).fit(data)
    items = item_query(data, ["a", "x"])
    scores = model.score(user_query(data, ["f_new", "m_new"]), items).numpy()
    assert scores[0, 0] > scores[0, 1]  # the new woman gets what women liked
    assert scores[1, 1] > scores[1, 0]


def test_segmentpop_with_heavy_smoothing_falls_back_to_global_popularity() -> None:
    _, data = two_taste_world()
    model = SegmentPopularityRecommender({"smoothing": 1e9}).fit(data)
    scores = model.score(user_query(data, ["f_new", "m_new"]), item_query(data, ["a", "x"])).numpy()
    np.testing.assert_allclose(scores[0], scores[1], rtol=1e-5)


def test_random_scores_depend_on_the_pair_not_on_the_batch_it_is_scored_in() -> None:
    _, data = two_taste_world()
    model = RandomRecommender(seed=5).fit(data)
    alone = model.score(user_query(data, ["f1"]), item_query(data, ["b"]))
    batch = model.score(user_query(data, ["m1", "f1"]), item_query(data, ["a", "b", "c"]))
    assert alone[0, 0] == batch[1, 1]
    other_seed = RandomRecommender(seed=6).fit(data).score(user_query(data, ["f1"]), item_query(data, ["b"]))
    assert other_seed[0, 0] != alone[0, 0]
