"""Synthetic kinds of data: seeded, shaped like the real data sets they imitate, accepted by the intake, and with
attributes that carry a signal a content model can find on new items."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.data.canonical import read_canonical_result
from engine.data.indexing import build_train_data, dataset_features
from engine.data.profile import profile_dataset
from engine.data.synthetic import generate_synthetic
from engine.data.cell_values import multi_value_rows
from engine.data.synthetic_kinds import DATA_KINDS, GENRES, generate_kind
from engine.metrics.evaluation import make_validator
from engine.models.registry import create_model
from engine.runs.protocol_catalog import make_split
from tests.canonical_folders import write_canonical_folder

KINDS = list(DATA_KINDS)


@pytest.mark.parametrize("kind", KINDS)
def test_same_seed_gives_identical_data_and_another_seed_differs(kind):
    first, again, other = (generate_kind(kind, 60, 80, 700, seed=s) for s in (2, 2, 3))
    pd.testing.assert_frame_equal(first.interactions, again.interactions)
    pd.testing.assert_frame_equal(first.items, again.items)
    assert not first.interactions.equals(other.interactions)
    assert len(first.interactions) == 700
    assert not first.interactions.duplicated(["user_id", "item_id"]).any()


def test_every_kind_says_which_real_data_set_it_imitates_and_the_shop_is_unchanged():
    assert all(kind.imitates and kind.label for kind in DATA_KINDS.values())
    pd.testing.assert_frame_equal(generate_kind("shop", 50, 40, 500, seed=1).interactions,
                                  generate_synthetic(50, 40, 500, seed=1).interactions)


def test_tags_have_a_large_zipf_vocabulary_implicit_feedback_and_no_users():
    data = generate_kind("tags", 500, 4_000, 10_000, seed=1)
    assert list(data.interactions.columns) == ["user_id", "item_id"] and data.users is None
    assert data.feedback.kind == "implicit"
    per_item = data.items["tags"].str.split("|")
    assert per_item.map(len).between(3, 30).all()
    counts = per_item.explode().value_counts()
    assert len(counts) > 4_000  # thousands of distinct tags for a few thousand items
    assert (counts == 1).mean() > 0.2  # a long tail of tags used once
    top = counts.iloc[: len(counts) // 100].sum() / counts.sum()
    assert top > 0.05  # ... and a head: the top 1% of tags carry a sizeable share of all assignments
    ranks = np.arange(1, 201)
    slope = np.polyfit(np.log(ranks), np.log(counts.iloc[:200].to_numpy()), 1)[0]
    assert -1.6 < slope < -0.3  # rank-frequency roughly a power law


def test_tag_counts_are_the_bookmarks_with_how_often_each_tag_was_given_the_topics_tags_most():
    plain, counted = (generate_kind(kind, 300, 1_500, 6_000, seed=2) for kind in ("tags", "tag-counts"))
    pd.testing.assert_frame_equal(plain.interactions, counted.interactions)
    given = multi_value_rows(counted.items["tags"])
    listed = multi_value_rows(plain.items["tags"])
    assert given[["row", "value"]].sort_values(["row", "value"]).to_numpy().tolist() == \
        listed[["row", "value"]].sort_values(["row", "value"]).to_numpy().tolist()
    assert given["weight"].min() == 1 and (given["weight"] >= 2).mean() > 0.05
    # the heaviest tag of an item is shared with far more items than its lightest: topic words, not strays
    heaviest = given.loc[given.groupby("row")["weight"].idxmax(), "value"]
    spread = given["value"].value_counts()
    assert spread[heaviest].median() > spread[given["value"]].median()


def test_genres_are_few_coarse_and_multi_valued_with_ratings_and_user_attributes():
    data = generate_kind("genres", 200, 300, 4_000, seed=1)
    genres = data.items["genres"].str.split("|")
    assert genres.map(len).between(2, 4).all()
    assert set(genres.explode()) <= set(GENRES)
    assert set(data.interactions["rating"].unique()) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    assert data.feedback.kind == "explicit" and "timestamp" not in data.interactions
    assert {"age", "gender", "occupation"} <= set(data.users.columns)


def test_text_has_heavy_tailed_play_counts_free_text_and_no_users_or_timestamps():
    data = generate_kind("text", 400, 600, 8_000, seed=1)
    assert data.users is None and "timestamp" not in data.interactions
    plays = data.interactions["rating"]
    assert (plays >= 1).all() and (plays == np.round(plays)).all()
    assert plays.max() >= 10 * plays.median() and plays.quantile(0.99) >= 4 * plays.median()
    assert data.items["description"].str.split().map(len).between(15, 40).all()


def test_counts_is_the_shop_with_counts_and_without_timestamps():
    data = generate_kind("counts", 60, 40, 500, seed=4)
    shop = generate_synthetic(60, 40, 500, seed=4, feedback="counts")
    pd.testing.assert_frame_equal(data.interactions, shop.interactions.drop(columns="timestamp"))
    assert data.feedback.count_weight == "log"


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_passes_the_intake_from_a_canonical_folder_and_profiles(kind, tmp_path):
    data = generate_kind(kind, 80, 120, 1_500, seed=5)
    result = read_canonical_result(write_canonical_folder(tmp_path / kind, data.interactions, data.items, data.users))
    read = result.dataset
    assert len(read.interactions) == len(data.interactions)
    assert read.feedback.kind == data.feedback.kind
    assert read.feedback.count_weight == data.feedback.count_weight
    for name, attribute_kind in data.item_kinds.items():
        assert read.item_kinds[name] == attribute_kind
    profile = profile_dataset(read)
    assert profile.summary["interactions"] == len(data.interactions)


@pytest.mark.parametrize("kind", KINDS)
def test_attributes_carry_a_signal_content_finds_on_new_items(kind):
    data = generate_kind(kind, 300, 400, 6_000, seed=1)
    split = make_split(data, "cold-item", 1)
    train = build_train_data(split.train, data, dataset_features(data))
    validator = make_validator(train, split, "ndcg@20", seed=1)
    content, random = (create_model(name, seed=1).fit(train) for name in ("content", "random"))
    assert validator.slice_for(content).name == "cold-item"
    assert validator(content) > validator(random) + 0.05


def test_unknown_kind_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="shop, tags, tag-counts, genres, text, counts"):
        generate_kind("ratings", 10, 10, 10)  # type: ignore[arg-type]


def test_tags_are_user_assigned_so_many_tags_are_one_bookmarkers_filing_words():
    data = generate_kind("tags", 300, 1_000, 8_000, seed=2)
    bookmarkers = data.interactions.groupby("item_id")["user_id"].agg(set)
    tagged = data.items.assign(tag=data.items["tags"].str.split("|")).explode("tag")
    items_of = tagged.groupby("tag")["item_id"].agg(list)
    shared = items_of[items_of.map(len) >= 2]
    one_filer = shared.map(lambda items: bool(set.intersection(*(bookmarkers.get(i, set()) for i in items))))
    assert one_filer.mean() > 0.35  # every item of the tag was bookmarked by one same user (0.2 by chance alone)
    assert one_filer.sum() > 600
