"""Fairness, bias and exposure metrics against values computed by hand on small planted examples."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.metrics.fairness import exposure, exposure_by_attribute, gini, group_gaps, short_head


def planted_quality() -> tuple[pd.Series, pd.Series]:
    """Group 'C' is served worse by construction (mean 0.1 against 0.5 and 0.45); 'D' is too small to judge."""
    values = {"A": [0.4, 0.6] * 5, "B": [0.4, 0.5] * 5, "C": [0.05, 0.15] * 5, "D": [0.0, 0.0]}
    users, metric, group = [], [], []
    for label, numbers in values.items():
        for j, number in enumerate(numbers):
            users.append(f"{label}{j}")
            metric.append(number)
            group.append(label)
    return pd.Series(metric, index=users), pd.Series(group, index=users)


def test_group_gaps_flag_exactly_the_group_served_worse_by_construction():
    values, groups = planted_quality()
    gaps = group_gaps(values, groups, n_bootstrap=2000, seed=3)
    table = gaps.table.set_index("group")
    assert table.loc["A", "mean"] == pytest.approx(0.5)
    assert table.loc["B", "mean"] == pytest.approx(0.45)
    assert table.loc["C", "mean"] == pytest.approx(0.1)
    assert table.loc["C", "n_users"] == 10
    # the rest of C's users: A's ten (sum 5), B's ten (sum 4.5) and D's two (sum 0)
    assert table.loc["C", "gap_to_rest"] == pytest.approx((5 + 4.5 + 0) / 22 - 0.1)
    assert table.loc["A", "gap_to_rest"] == pytest.approx((4.5 + 1 + 0) / 22 - 0.5)
    assert (gaps.best, gaps.worst) == ("A", "C")
    assert gaps.gap == pytest.approx(0.4)
    assert gaps.gap_significant and 0 < gaps.gap_ci[0] < 0.4 < gaps.gap_ci[1]
    assert gaps.flagged == ["C"]
    # D is worse still but has only 2 users: reported, never judged
    assert np.isnan(table.loc["D", "gap_to_rest"]) and not table.loc["D", "flagged"]
    assert gaps.table["group"].tolist() == ["A", "B", "C", "D"]


def test_group_gaps_flag_nothing_when_groups_are_served_alike():
    rng = np.random.default_rng(0)
    users = [f"u{j}" for j in range(200)]
    values = pd.Series(rng.random(200), index=users)
    groups = pd.Series(np.where(np.arange(200) % 2, "x", "y"), index=users)
    gaps = group_gaps(values, groups, n_bootstrap=500)
    assert gaps.flagged == [] and not gaps.gap_significant


def test_group_gaps_refuse_users_without_a_group():
    with pytest.raises(ValueError, match="no user has both"):
        group_gaps(pd.Series([0.1], index=["u1"]), pd.Series(["a"], index=["u2"]))


def planted_lists() -> tuple[pd.DataFrame, pd.Series]:
    """Three users' lists over a 5-item catalogue; item e is new (popularity 0); ranks past 2 are ignored at K=2."""
    lists = pd.DataFrame({"user_id": ["u1", "u1", "u1", "u2", "u2", "u3", "u3"],
                          "item_id": ["a", "b", "d", "a", "c", "e", "d"],
                          "rank": [1, 2, 3, 1, 2, 1, 2]})
    popularity = pd.Series({"a": 4, "b": 3, "c": 2, "d": 1, "e": 0})
    return lists, popularity


def test_exposure_matches_hand_computed_values():
    lists, popularity = planted_lists()
    figures = exposure(lists, 2, popularity, n_train_users=4)
    # slots: a, b, a, c, e, d -> counts a 2, b 1, c 1, d 1, e 1
    assert figures.n_slots == 6
    assert figures.new_item_share == pytest.approx(1 / 6)
    assert figures.new_item_catalogue_share == pytest.approx(1 / 5)
    assert figures.gini == pytest.approx(2 * 20 / (5 * 6) - 6 / 5)
    assert figures.long_tail_share == pytest.approx(4 / 6)  # the short head is {a}: the top 20% of 5 items
    assert figures.long_tail_catalogue_share == pytest.approx(4 / 5)
    assert figures.recommended_popularity == pytest.approx((1 + 0.75 + 1 + 0.5 + 0 + 0.25) / 6)
    assert figures.catalogue_popularity == pytest.approx(0.5)
    assert figures.popularity_lift == pytest.approx(3.5 / 6 / 0.5)


def test_gini_is_zero_for_equal_exposure_and_near_one_when_one_item_takes_every_slot():
    assert gini(np.array([3, 3, 3])) == 0.0
    assert gini(np.array([0, 0, 0, 10])) == pytest.approx(2 * 40 / 40 - 5 / 4)
    assert gini(np.zeros(4)) == 0.0


def test_short_head_breaks_popularity_ties_by_item_id():
    assert short_head(pd.Series({"b": 5, "a": 5, "c": 1, "d": 0, "e": 0})) == {"a"}


def test_exposure_refuses_items_outside_the_catalogue_and_empty_lists():
    lists, popularity = planted_lists()
    with pytest.raises(ValueError, match="not in the catalogue"):
        exposure(lists, 2, popularity.drop("e"), n_train_users=4)
    with pytest.raises(ValueError, match="no recommendation"):
        exposure(lists.iloc[:0], 2, popularity, n_train_users=4)


def test_exposure_by_attribute_splits_multi_valued_items_and_counts_missing_values_as_unknown():
    lists, _ = planted_lists()
    attribute = pd.Series({"a": "x|y", "b": "x", "c": "y", "d": "z", "e": None})
    table = exposure_by_attribute(lists, 2, attribute).set_index("value")
    assert table.loc["x", "exposure_share"] == pytest.approx(2 / 6)
    assert table.loc["y", "exposure_share"] == pytest.approx(2 / 6)
    assert table.loc["z", "exposure_share"] == pytest.approx(1 / 6)
    assert table.loc["unknown", "exposure_share"] == pytest.approx(1 / 6)
    assert table.loc["x", "catalogue_share"] == pytest.approx(1.5 / 5)
    assert table.loc["z", "catalogue_share"] == pytest.approx(1 / 5)
    assert table.loc["x", "ratio"] == pytest.approx((2 / 6) / 0.3)
    assert table["exposure_share"].sum() == pytest.approx(1.0)
