"""Property-based checks of the dataset profile over generated data: any time span, size and kind of id that intake
accepts must profile without an error, and the profile's figures must add up to the data.

A data set spanning more than three years once broke the Data page for every visitor (the monthly bucket used an
alias that `to_period` refuses); these generate the spans, sizes and id types that no fixed example covers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from engine.data.columns import RoleMapping
from engine.data.errors import DataError
from engine.data.profile import ACTIVITY_PERIODS, COLD_BUCKETS, profile_dataset
from engine.data.validate import IntakeOptions, build_dataset

_DAY = 86_400
_FIRST = int(pd.Timestamp("1900-01-01").timestamp())
_LAST = int(pd.Timestamp("2200-01-01").timestamp())
_PERIOD_DAYS = {"day": 1, "week": 7, "month": 31, "year": 366}

ids = st.one_of(
    st.integers(min_value=-10**12, max_value=10**12).map(str),
    st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp")), min_size=1, max_size=12),
    st.floats(min_value=0, max_value=1e6, allow_nan=False).map(lambda v: f"{v:g}"),
)


@st.composite
def interaction_tables(draw) -> pd.DataFrame:
    """An interactions table with 2+ users and items, any start between 1900 and 2200 and any span up to 200 years."""
    users = draw(st.lists(ids, min_size=2, max_size=15, unique_by=str.strip).filter(
        lambda v: len({x.strip() for x in v}) >= 2 and all(x.strip() for x in v)))
    items = draw(st.lists(ids, min_size=2, max_size=15, unique_by=str.strip).filter(
        lambda v: len({x.strip() for x in v}) >= 2 and all(x.strip() for x in v)))
    n_rows = draw(st.integers(min_value=2, max_value=300))
    seed = draw(st.integers(min_value=0, max_value=2**32 - 1))
    start = draw(st.integers(min_value=_FIRST, max_value=_LAST))
    span = draw(st.sampled_from([0, 1, 3_600, 30 * _DAY, 200 * _DAY, 4 * 365 * _DAY, 12 * 365 * _DAY,
                                 80 * 365 * _DAY, 200 * 365 * _DAY]))
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "user": np.asarray(users, dtype=object)[rng.integers(0, len(users), n_rows)],
        "item": np.asarray(items, dtype=object)[rng.integers(0, len(items), n_rows)],
        "rating": rng.integers(1, 6, n_rows).astype(str),
        "timestamp": (start + rng.integers(0, span + 1, n_rows)).astype(str),
    })
    # the first two rows name two different users and items, so the table is always a usable one
    frame.loc[[0, 1], "user"] = users[:2]
    frame.loc[[0, 1], "item"] = items[:2]
    return frame


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(interaction_tables())
def test_any_span_size_and_id_type_profiles_and_adds_up(raw: pd.DataFrame):
    try:
        dataset = build_dataset(raw, RoleMapping("user", "item", "rating", "timestamp"), IntakeOptions()).dataset
    except DataError:
        # a draw intake rightly refuses (e.g. duplicates merged down to no rating of 4 or more): nothing to profile
        assume(False)
    profile = profile_dataset(dataset)
    frame = dataset.interactions

    assert profile.summary["interactions"] == len(frame)
    assert profile.user_counts.sum() == profile.item_counts.sum() == len(frame)
    cold = profile.cold_buckets.set_index("bucket")
    assert list(cold.index) == list(COLD_BUCKETS)
    assert cold["users"].sum() == frame["user_id"].nunique() and cold["items"].sum() == frame["item_id"].nunique()

    activity = profile.activity
    assert activity["interactions"].sum() == len(frame)
    assert activity["new_users"].sum() == frame["user_id"].nunique()
    assert activity["new_items"].sum() == frame["item_id"].nunique()
    assert activity["period"].is_monotonic_increasing and activity["period"].is_unique
    span_days = (frame["timestamp"].max() - frame["timestamp"].min()) / _DAY
    limits = dict(ACTIVITY_PERIODS)
    assert span_days <= limits[profile.activity_period] + 1  # the finest period allowed for the span ...
    periods = [name for name, _ in ACTIVITY_PERIODS]
    finer = periods[: periods.index(profile.activity_period)]
    assert all(span_days > limits[name] for name in finer)  # ... and no finer one would have been
    assert len(activity) <= span_days / _PERIOD_DAYS[profile.activity_period] + 2  # a readable number of buckets


def test_a_ten_year_span_is_bucketed_by_month():
    rng = np.random.default_rng(0)
    start = int(pd.Timestamp("2010-01-01").timestamp())
    raw = pd.DataFrame({"user": rng.integers(0, 50, 2_000).astype(str), "item": rng.integers(0, 80, 2_000).astype(str),
                        "timestamp": (start + rng.integers(0, 10 * 365 * _DAY, 2_000)).astype(str)})
    dataset = build_dataset(raw, RoleMapping("user", "item", timestamp="timestamp"), IntakeOptions()).dataset
    profile = profile_dataset(dataset)
    assert profile.activity_period == "month"
    assert 100 <= len(profile.activity) <= 121
    assert (profile.activity["period"].dt.day == 1).all()
