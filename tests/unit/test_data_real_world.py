"""Data that real users bring: empty placeholder columns, play counts, attribute tables keyed by the wrong ids,
absurdly long ids and values. Each case is one a public data set in the canonical layout really had."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.data.canonical import read_canonical_result
from engine.data.columns import RoleMapping, looks_like_counts
from engine.data.dataset import Feedback
from engine.data.errors import DataError
from engine.data.profile import profile_dataset
from engine.data.synthetic import generate_synthetic
from engine.data.validate import MAX_ID_LENGTH, AttributeInput, IntakeOptions, build_dataset
from tests.canonical_folders import write_canonical_folder

ROLES = RoleMapping("user_id", "item_id", "rating", "timestamp")


def _plays(seed: int = 0, rows: int = 3_000) -> pd.DataFrame:
    """A music-site table: users, artists, play counts from 1 to hundreds of thousands, and an empty time column."""
    rng = np.random.default_rng(seed)
    plays = np.ceil(np.exp(rng.normal(3.0, 1.8, rows))).clip(1, 350_000)
    plays[0] = 350_000
    frame = pd.DataFrame({"user_id": rng.integers(0, 200, rows), "item_id": rng.integers(0, 400, rows),
                          "rating": plays.astype(int), "timestamp": ""})
    return frame.drop_duplicates(["user_id", "item_id"])


def test_an_empty_rating_column_is_absent_and_the_data_implicit(tmp_path: Path):
    """A bookmarking data set: its canonical `rating` column is empty in every row."""
    frame = _plays().assign(rating="")
    result = read_canonical_result(write_canonical_folder(tmp_path / "bookmarks", frame))
    dataset = result.dataset
    assert "rating" not in dataset.interactions.columns and "timestamp" not in dataset.interactions.columns
    assert dataset.feedback == Feedback("implicit")
    said = [str(w) for w in result.warnings]
    assert "Column 'rating' is empty in every row, so the data is read without a rating column (interactions.csv)." \
        in said
    assert "Column 'timestamp' is empty in every row, so the data is read without a timestamp column " \
           "(interactions.csv)." in said


def test_a_partly_empty_column_keeps_the_precise_error():
    frame = _plays().astype({"rating": object})
    frame.iloc[[4, 9], frame.columns.get_loc("rating")] = ""
    with pytest.raises(DataError, match="2 rows have no rating in column 'rating'") as caught:
        build_dataset(frame.drop(columns="timestamp"), RoleMapping("user_id", "item_id", "rating"))
    assert "rows 6, 11" in caught.value.where


def test_play_counts_are_read_as_implicit_feedback_weighted_by_log_count(tmp_path: Path):
    frame = _plays()
    result = read_canonical_result(write_canonical_folder(tmp_path / "music", frame))
    dataset = result.dataset
    assert dataset.feedback == Feedback("implicit", count_weight="log")
    positives = dataset.positives()
    assert len(positives) == len(frame)  # every play is a positive, not only those with 4 plays or more
    by_pair = positives.set_index(["user_id", "item_id"])["weight"]
    expected = np.log1p(frame.set_index([frame["user_id"].astype(str), frame["item_id"].astype(str)])["rating"])
    assert np.allclose(by_pair.sort_index().to_numpy(), expected.sort_index().to_numpy())
    assert "rating" not in positives.columns  # counts never reach RMSE or a rating model as if they were ratings
    assert not dataset.has_ratings and dataset.has_counts
    said = " ".join(map(str, result.warnings))
    assert "Column 'rating' holds counts (whole numbers from 1 to 350,000, median" in said
    assert "read as implicit feedback, each row weighted by log(1 + count)" in said and "--feedback explicit" in said


def test_the_count_guess_can_be_overridden():
    frame = _plays().drop(columns="timestamp")
    roles = RoleMapping("user_id", "item_id", "rating")
    explicit = build_dataset(frame, roles, IntakeOptions(feedback=Feedback("explicit", 100.0))).dataset
    assert explicit.has_ratings and len(explicit.positives()) == int((frame["rating"] >= 100).sum())
    capped = build_dataset(frame, roles, IntakeOptions(feedback=Feedback("implicit", 2.0, count_weight="capped")))
    cap = capped.dataset.feedback.count_cap
    assert cap == np.ceil(frame["rating"].quantile(0.95))
    weights = capped.dataset.positives()["weight"]
    assert len(weights) == int((frame["rating"] >= 2).sum()) and weights.max() == cap and weights.min() == 2
    plain = build_dataset(frame, roles, IntakeOptions(feedback=Feedback("implicit"))).dataset.positives()
    assert (plain["weight"] == 1).all() and len(plain) == len(frame)


@pytest.mark.parametrize(("values", "counts"), [
    ([1, 2, 3, 4, 5] * 20, False),  # stars
    (list(range(1, 11)) * 10, False),  # a 1..10 scale
    ([0] * 60 + list(range(1, 11)) * 4, False),  # Book-Crossing: 0 for "read, not rated", then 1..10
    (list(np.random.default_rng(1).integers(40, 101, 200)), False),  # review scores out of 100
    ([0.5, 1.0, 3.5, 4.5, 5.0] * 20, False),  # half stars
    ([1.0] * 50 + list(np.round(np.exp(np.random.default_rng(3).normal(1.5, 2, 150)), 1) + 0.1), True),  # hours
    (list(np.random.default_rng(4).uniform(0, 100, 200).round(1)), False),  # a 0..100 score with decimals
    (list(np.ceil(np.exp(np.random.default_rng(2).normal(3, 1.8, 500)))), True),  # play counts
    ([1] * 70 + [2] * 15 + [3, 4, 5, 6, 8, 12, 20, 35] * 2, True),  # views or purchases per item: a heavy tail
    ([-3, 5, 8000] * 10, False),  # negative: not counts
])
def test_counts_are_told_from_rating_scales(values: list, counts: bool):
    assert looks_like_counts(pd.Series(values, dtype="float64")) is counts


def test_a_ten_year_counts_dataset_with_an_empty_timestamp_column_reads_profiles_and_splits(tmp_path: Path):
    """The issue's acceptance data: generated, ten years, implicit play counts, and a folder whose time column is empty."""
    from engine.protocols import split_sizes
    from engine.runs.protocol_catalog import make_split

    generated = generate_synthetic(400, 150, 6_000, seed=3, years=10, feedback="counts")
    span_years = np.ptp(generated.interactions["timestamp"]) / (365 * 86_400)
    assert span_years > 9
    assert profile_dataset(generated).activity_period == "month"
    folder = write_canonical_folder(tmp_path / "plays", generated.interactions.assign(timestamp=""), generated.items)
    dataset = read_canonical_result(folder).dataset
    assert dataset.feedback.count_weight == "log" and not dataset.has_timestamps
    profile = profile_dataset(dataset)
    assert profile.ratings is None and profile.counts["interactions"].sum() == len(dataset.interactions)
    assert profile.summary["items_with_attributes"] == 1.0
    sizes = split_sizes(make_split(dataset, "cold-item", 0, {}))
    assert sizes["cold_items"] > 0


def test_attribute_ids_that_match_no_interaction_are_refused_and_partial_matches_are_counted():
    interactions = pd.DataFrame({"user_id": ["1", "2", "3", "1"], "item_id": ["a", "b", "c", "d"]})
    roles = RoleMapping("user_id", "item_id")
    wrong = pd.DataFrame({"movie": ["m1", "m2", "m3"], "genre": ["x", "y", "x"]})
    with pytest.raises(DataError) as caught:
        build_dataset(interactions, roles, items=AttributeInput(wrong, "movie", label="items.csv"))
    assert caught.value.what == "None of the 3 ids in items.csv is an item id of the interactions"
    assert caught.value.where == "items.csv has ids such as 'm1', 'm2', 'm3'; the interactions have 'a', 'b', 'c'"
    partial = pd.DataFrame({"item_id": ["a", "zz"], "genre": ["x", "y"]})
    result = build_dataset(interactions, roles, items=AttributeInput(partial, "item_id", label="items.csv"))
    said = [str(w) for w in result.warnings]
    assert said[0].startswith("1 of the 4 items in the interactions (25%) have attributes; the other 3 are seen "
                              "without attributes (items.csv)")
    assert profile_dataset(result.dataset).summary["items_with_attributes"] == 0.25


def test_very_long_ids_are_refused_and_very_long_attribute_values_warned_about():
    long_id = "x" * 10_000
    interactions = pd.DataFrame({"user_id": ["1", "2", long_id], "item_id": ["a", "b", "a"]})
    with pytest.raises(DataError) as caught:
        build_dataset(interactions, RoleMapping("user_id", "item_id"))
    assert caught.value.what == (f"1 user ids in column 'user_id' are longer than {MAX_ID_LENGTH} characters: "
                                 f"'{'x' * 40}… (10,000 characters)' (row 4)")
    fine = interactions.iloc[:2]
    items = pd.DataFrame({"item_id": ["a", "b", long_id], "genre": ["x", "y" * 5_000, "z"]})
    with pytest.raises(DataError, match="1 item ids in column 'item_id' are longer"):
        build_dataset(fine, RoleMapping("user_id", "item_id"), items=AttributeInput(items, "item_id"))
    result = build_dataset(fine, RoleMapping("user_id", "item_id"),
                           items=AttributeInput(items.iloc[:2], "item_id", {"genre": "categorical"}))
    assert [str(w) for w in result.warnings] == [
        f"1 values of categorical attribute 'genre' are longer than 1,000 characters: '{'y' * 40}… (5,000 "
        "characters)' (row 3) (attribute table). Set the attribute's kind to text if it is free text, or to ignore."]
