"""The dataset profile: counts, the cold buckets (including entities with attributes only), attributes, activity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from engine.data.canonical import read_canonical_folder
from engine.data.dataset import Dataset, Feedback
from engine.data.profile import COLD_BUCKETS, profile_dataset
from ui.data_widgets import (TAIL_POINTS, TITLE_FITS, activity_chart, cold_bucket_chart, count_chart, long_tail_chart,
                             profile_caption, rating_chart)


def _small() -> Dataset:
    rows = [("u1", f"i{k}") for k in range(1, 8)] + [("u2", "i1"), ("u2", "i2"), ("u3", "i1")]
    interactions = pd.DataFrame(rows, columns=["user_id", "item_id"]).astype("str")
    interactions["rating"] = [5.0, 4, 3, 2, 1, 5, 4, 5, 2, 4]
    interactions["timestamp"] = [86_400 * d for d in range(10)]
    items = pd.DataFrame({"item_id": ["i1", "i2", "i9"], "genres": ["a|b", "b", None]}).astype({"item_id": "str"})
    users = pd.DataFrame({"user_id": ["u1", "u4"], "age": [20.0, 30.0]}).astype({"user_id": "str"})
    return Dataset(interactions, items, users, {"genres": "multi"}, {"age": "numeric"}, Feedback("explicit", 4.0))


def test_cold_buckets_count_entities_with_attributes_but_no_interactions():
    profile = profile_dataset(_small())
    buckets = profile.cold_buckets.set_index("bucket")
    assert list(buckets.index) == list(COLD_BUCKETS)
    # users: u4 has none, u3 one, u2 two, u1 seven; items: i9 none, i3..i7 one each, i2 two, i1 three
    assert buckets["users"].tolist() == [1, 1, 1, 1, 0]
    assert buckets["items"].tolist() == [1, 5, 2, 0, 0]
    assert profile.summary["users_without_interactions"] == 1 and profile.summary["items_without_interactions"] == 1


def test_summary_counts_density_and_positive_share():
    summary = profile_dataset(_small()).summary
    assert (summary["users"], summary["items"], summary["interactions"]) == (3, 7, 10)
    assert summary["density"] == 10 / 21
    assert summary["positive_share"] == 0.6


def test_attribute_coverage_is_over_all_entities_and_multi_cardinality_counts_tokens():
    attributes = profile_dataset(_small()).attributes.set_index("attribute")
    assert attributes.loc["genres", "cardinality"] == 2
    assert attributes.loc["genres", "coverage"] == 2 / 8  # i1, i2 of the 8 items (7 with interactions + i9)
    assert attributes.loc["age", "coverage"] == 2 / 4


def test_ml100k_profile_shows_its_long_tail_and_weekly_activity(ml100k_dir: Path):
    profile = profile_dataset(read_canonical_folder(ml100k_dir))
    assert profile.summary["users"] == 943 and profile.summary["items"] == 1682
    assert profile.user_counts.min() >= 20  # ml-100k keeps users with at least 20 ratings
    assert profile.cold_buckets.set_index("bucket").loc["1", "items"] == (profile.item_counts == 1).sum() > 0
    assert profile.activity_period == "week" and profile.activity["interactions"].sum() == 100_000
    assert profile.ratings["interactions"].sum() == 100_000
    kinds = profile.attributes.set_index("attribute")["kind"].to_dict()
    assert kinds["genres"] == "multi" and kinds["zip_code"] == "ignore"


def test_figures_are_built_from_the_profile():
    profile = profile_dataset(_small())
    tail = long_tail_chart(profile)
    assert [trace.name for trace in tail.data] == ["items", "users"]
    assert list(tail.data[1].y) == [7, 2, 1]
    assert tail.layout.xaxis.type == "log" and tail.layout.yaxis.type == "log"
    assert tail.layout.xaxis.dtick == 1 and tail.layout.yaxis.dtick == 1  # 1, 10, 100: no '5' above a '10'
    (bars,) = rating_chart(profile).data
    assert dict(zip(map(float, bars.x), map(int, bars.y))) == {1.0: 1, 2.0: 2, 3.0: 1, 4.0: 3, 5.0: 3}
    # ten interactions over ten days, by three users (u1 first, then u2, u3) on seven distinct items
    assert {trace.name: int(sum(trace.y)) for trace in activity_chart(profile).data} == {
        "interactions": 10, "new users": 3, "new items": 7}
    assert len(cold_bucket_chart(profile).data) == 2
    without = _small()
    without.interactions = without.interactions.drop(columns=["rating", "timestamp"])
    without.feedback = Feedback("implicit")
    bare = profile_dataset(without)
    assert rating_chart(bare) is None and activity_chart(bare) is None


def test_profile_chart_titles_fit_their_half_page_and_legends_read_as_words():
    # counts (plays) as well as ratings: each of the two feedback charts shares a row with the activity chart
    counted = _small()
    counted.interactions["rating"] = [1.0, 3, 12, 40, 2, 7, 1, 5, 130, 9]
    counted.feedback = Feedback("implicit", 1.0, count_weight="log")
    for profile in (profile_dataset(_small()), profile_dataset(counted)):
        figures = [long_tail_chart(profile), cold_bucket_chart(profile), activity_chart(profile),
                   rating_chart(profile) or count_chart(profile)]
        assert all(figure is not None and len(figure.layout.title.text) <= TITLE_FITS for figure in figures)
    legend = {trace.name for trace in activity_chart(profile_dataset(_small())).data}
    assert legend == {"interactions", "new users", "new items"}


def test_a_long_tail_of_many_users_is_drawn_at_log_spaced_ranks_and_says_so():
    n_users = 30_000
    interactions = pd.DataFrame({"user_id": [f"u{k}" for k in range(n_users) for _ in range(1 + k % 3)]})
    interactions["item_id"] = [f"i{k % 50}" for k in range(len(interactions))]
    profile = profile_dataset(Dataset(interactions))
    items, users = long_tail_chart(profile).data
    assert items.name == "items" and list(items.x) == list(range(1, 51))  # short curves are drawn whole
    assert users.name.startswith("users (") and users.name.endswith(f"of {n_users:,} ranks, log-spaced)")
    assert len(users.x) <= TAIL_POINTS and users.x[0] == 1 and users.x[-1] == n_users
    expected = profile.user_counts.to_numpy()[np.asarray(users.x) - 1]
    assert list(users.y) == list(expected)


def test_the_profile_line_names_unused_attribute_rows_only_when_there_are_some():
    """Without attribute tables the line read '0 users and 0 items have attributes but no interactions'."""
    bare = _small()
    bare.items, bare.users, bare.item_kinds, bare.user_kinds = None, None, {}, {}
    assert "have attributes" not in profile_caption(profile_dataset(bare).summary)
    line = profile_caption(profile_dataset(_small()).summary)
    assert "1 user and 1 item have attributes but no interactions" in line  # u4 and i9
    only_items = _small()
    only_items.users, only_items.user_kinds = None, {}
    line = profile_caption(profile_dataset(only_items).summary)
    assert "1 item has attributes but no interactions" in line and "0 users" not in line
