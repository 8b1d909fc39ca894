"""Per-user values: paired comparison of two runs, where they disagree, history buckets and user groups."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.analysis import comparison
from tests.comparison_seed import SeededRun, seed_runs

USERS = [f"u{i}" for i in range(40)]


def _per_user(values: np.ndarray, history: list[int], slice_name: str = "cold-user") -> pd.DataFrame:
    return pd.DataFrame({"slice": slice_name, "user_id": USERS, "history": history, "ndcg@10": values})


@pytest.fixture
def two_runs(coldstart_home):
    rng = np.random.default_rng(0)
    base = rng.uniform(0, 0.5, size=len(USERS))
    history = [i % 25 for i in range(len(USERS))]
    better = base + 0.2
    better[3] = base[3] - 0.4  # the one user where B is much worse: the biggest disagreement
    ids = seed_runs([
        SeededRun("mostpop", {"cold-user": {"ndcg@10": float(base.mean())}}, per_user=_per_user(base, history)),
        SeededRun("content", {"cold-user": {"ndcg@10": float(better.mean())}}, per_user=_per_user(better, history)),
    ])
    runs = comparison.list_runs()
    return ids["mostpop"][0], ids["content"][0], comparison.load_per_user(runs), base, better


def test_paired_table_reports_b_minus_a_with_interval_and_test_on_shared_users(two_runs):
    run_a, run_b, per_user, base, better = two_runs
    table = comparison.paired_table(per_user, run_a, run_b, "cold-user", ["ndcg@10"])
    row = table.iloc[0]
    assert row["difference"] == pytest.approx((better - base).mean())
    assert row["ci_low"] < row["difference"] < row["ci_high"]
    assert row["ci_low"] > 0 and row["p_value"] < 0.01
    assert row["n_users"] == len(USERS)
    assert (row["A"], row["B"]) == pytest.approx((base.mean(), better.mean()))


def test_disagreements_put_the_user_with_the_largest_gap_first(two_runs):
    run_a, run_b, per_user, base, better = two_runs
    table = comparison.disagreements(per_user, run_a, run_b, "cold-user", "ndcg@10", n=3)
    assert table["user_id"].iloc[0] == "u3"
    assert table["difference"].iloc[0] == pytest.approx(better[3] - base[3])
    assert len(table) == 3


def test_paired_comparison_on_a_slice_without_values_says_what_to_pick(two_runs):
    run_a, run_b, per_user, _, _ = two_runs
    with pytest.raises(comparison.ComparisonError, match="pick a slice both runs were evaluated on"):
        comparison.paired_table(per_user, run_a, run_b, "warm", ["ndcg@10"])


def test_history_buckets_follow_the_metrics_module_buckets_in_order(two_runs):
    _, _, per_user, base, _ = two_runs
    frame = comparison.history_buckets(per_user, "ndcg@10", "cold-user")
    mostpop = frame.loc[frame["variant"] == comparison.model_label("mostpop")]
    assert mostpop["bucket"].tolist() == ["0", "1", "2-5", "6-20", ">20"]
    history = np.array([i % 25 for i in range(len(USERS))])
    # histories 0..24 then 0..14: twice each of 0..14, once each of 15..24
    assert mostpop["n_users"].tolist() == [2, 2, 8, 9 * 2 + 6, 4]
    assert mostpop["mean"].iloc[0] == pytest.approx(base[history == 0].mean())


def test_user_groups_cut_by_a_categorical_attribute_and_refuse_an_unknown_one(two_runs):
    _, _, per_user, base, _ = two_runs
    users = pd.DataFrame({"user_id": USERS, "gender": ["F" if i % 2 else "M" for i in range(len(USERS))]})
    frame = comparison.user_groups(per_user, "ndcg@10", "cold-user", users, "gender")
    mostpop = frame.loc[frame["variant"] == comparison.model_label("mostpop")].set_index("group")
    assert mostpop.at["F", "mean"] == pytest.approx(base[1::2].mean())
    assert mostpop.at["M", "n_users"] == 20
    with pytest.raises(comparison.ComparisonError, match="choose one of gender"):
        comparison.user_groups(per_user, "ndcg@10", "cold-user", users, "age")


def test_per_user_values_drop_users_without_a_held_out_positive(coldstart_home):
    values = np.array([0.5, np.nan] + [0.1] * (len(USERS) - 2))
    seed_runs([SeededRun("mostpop", {"cold-user": {"ndcg@10": 0.1}}, per_user=_per_user(values, [1] * len(USERS)))])
    frame = comparison.per_user_values(comparison.load_per_user(comparison.list_runs()), "ndcg@10", "cold-user")
    assert len(frame) == len(USERS) - 1


def test_runs_of_different_experiments_are_not_compared_user_by_user(coldstart_home):
    history = [1] * len(USERS)
    first = seed_runs([SeededRun("mostpop", {"cold-user": {"ndcg@10": 0.1}},
                                 per_user=_per_user(np.full(len(USERS), 0.1), history))],
                      dataset="one", experiment="split A")
    second = seed_runs([SeededRun("content", {"cold-user": {"ndcg@10": 0.2}},
                                  per_user=_per_user(np.full(len(USERS), 0.2), history))],
                       dataset="two", experiment="split B")
    per_user = comparison.load_per_user(comparison.list_runs())
    with pytest.raises(comparison.ComparisonError, match="different experiments"):
        comparison.paired_table(per_user, first["mostpop"][0], second["content"][0], "cold-user", ["ndcg@10"])


def test_the_paired_comparison_opens_on_the_two_best_runs_that_kept_per_user_values_on_a_cold_slice(coldstart_home):
    history = [1] * len(USERS)
    ids = seed_runs([
        SeededRun("mostpop", {"cold-user": {"ndcg@10": 0.1}}, per_user=_per_user(np.full(len(USERS), 0.1), history)),
        SeededRun("content", {"cold-user": {"ndcg@10": 0.3}}, per_user=_per_user(np.full(len(USERS), 0.3), history)),
        SeededRun("random", {"cold-user": {"ndcg@10": 0.05}}, per_user=_per_user(np.full(len(USERS), 0.05), history)),
        # the newest two: one cannot serve the cold slice, one was recorded without per-user values
        SeededRun("itemknn", {"warm": {"ndcg@10": 0.4}}, not_applicable={"cold-user": "cannot score new users"},
                  per_user=_per_user(np.full(len(USERS), 0.4), history, "warm")),
        SeededRun("segmentpop", {"cold-user": {"ndcg@10": 0.5}}),
    ])
    runs = comparison.list_runs()
    per_user, metrics = comparison.load_per_user(runs), comparison.load_metrics(runs)
    slices = ["warm", "cold-user"]
    assert comparison.default_pair(per_user, metrics, "ndcg@10", slices) == (
        ids["content"][0], ids["mostpop"][0], "cold-user")
    table = comparison.paired_table(per_user, ids["content"][0], ids["mostpop"][0], "cold-user", ["ndcg@10"])
    assert table["difference"].iloc[0] == pytest.approx(-0.2)


def test_no_default_pair_when_no_two_runs_kept_per_user_values_on_one_slice(coldstart_home):
    history = [1] * len(USERS)
    seed_runs([SeededRun("mostpop", {"cold-user": {"ndcg@10": 0.1}},
                         per_user=_per_user(np.full(len(USERS), 0.1), history)),
               SeededRun("itemknn", {"warm": {"ndcg@10": 0.4}},
                         per_user=_per_user(np.full(len(USERS), 0.4), history, "warm")),
               SeededRun("content", {"cold-user": {"ndcg@10": 0.3}})])
    runs = comparison.list_runs()
    assert comparison.default_pair(comparison.load_per_user(runs), comparison.load_metrics(runs), "ndcg@10",
                                   ["warm", "cold-user"]) is None


def test_numeric_user_groups_read_in_numeric_order_with_whole_number_edges(two_runs):
    _, _, per_user, base, _ = two_runs
    # ages 7..46: text order would put "7-16" after "37-46", and pandas' quantile cut starts at 6.999
    ages = [7 + i for i in range(len(USERS))]
    users = pd.DataFrame({"user_id": USERS, "age": ages})
    frame = comparison.user_groups(per_user, "ndcg@10", "cold-user", users, "age")
    mostpop = frame.loc[frame["variant"] == comparison.model_label("mostpop")].set_index("group")
    assert mostpop.index.tolist() == ["7-16", "17-26", "27-36", "37-46"]
    assert mostpop.at["7-16", "mean"] == pytest.approx(base[:10].mean())
    assert mostpop["n_users"].tolist() == [10, 10, 10, 10]


def test_a_numeric_attribute_with_few_values_is_ordered_as_numbers_not_text(two_runs):
    _, _, per_user, _, _ = two_runs
    users = pd.DataFrame({"user_id": USERS, "visits": [[2, 10, 9][i % 3] for i in range(len(USERS))]})
    frame = comparison.user_groups(per_user, "ndcg@10", "cold-user", users, "visits")
    assert frame["group"].drop_duplicates().tolist() == ["2", "9", "10"]
