"""Statistics over per-user values: bootstrap intervals, paired comparisons, seeds and groups."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.metrics import (bootstrap_ci, bootstrap_means, group_summary, history_bucket, paired_comparison,
                            seed_summary)


def test_bootstrap_interval_brackets_the_mean_and_narrows_with_more_users():
    rng = np.random.default_rng(0)
    few, many = rng.random(50), rng.random(5000)
    (low_few, high_few), = bootstrap_ci(few[:, None])
    (low_many, high_many), = bootstrap_ci(many[:, None])
    assert low_few < few.mean() < high_few
    assert low_many < many.mean() < high_many
    assert high_many - low_many < (high_few - low_few) / 4


def test_bootstrap_ignores_users_without_a_value():
    values = np.array([[1.0, np.nan], [3.0, 2.0], [np.nan, 4.0]])
    replicates = bootstrap_means(values, n_bootstrap=200, seed=1)
    # a missing value is left out, not counted as zero: every replicate mean stays within the present values
    assert np.nanmin(replicates[:, 0]) >= 1.0 and np.nanmax(replicates[:, 0]) <= 3.0
    assert np.nanmin(replicates[:, 1]) >= 2.0 and np.nanmax(replicates[:, 1]) <= 4.0


def test_paired_comparison_finds_a_consistent_improvement():
    rng = np.random.default_rng(3)
    users = [f"u{i}" for i in range(300)]
    base = pd.Series(rng.random(300), index=users)
    better = base + 0.05 + rng.normal(0, 0.01, 300)
    result = paired_comparison(better, base)
    assert result.mean_difference == pytest.approx(0.05, abs=0.005)
    assert 0 < result.ci[0] < result.ci[1] and result.p_value < 1e-6 and result.n_users == 300


def test_paired_comparison_of_identical_runs_shows_no_difference():
    values = pd.Series([0.1, 0.5, 0.3], index=["a", "b", "c"])
    result = paired_comparison(values, values.copy())
    assert result.mean_difference == 0 and result.ci == (0.0, 0.0) and result.p_value == 1.0


def test_paired_comparison_uses_only_users_both_runs_evaluated():
    a = pd.Series([1.0, 0.0, np.nan], index=["x", "y", "z"])
    b = pd.Series([0.0, 0.0, 1.0, 1.0], index=["x", "y", "z", "w"])
    assert paired_comparison(a, b).n_users == 2
    with pytest.raises(ValueError, match="share no evaluated user"):
        paired_comparison(a.loc[["z"]], b.loc[["w"]])


def test_seed_summary_gives_mean_and_sample_std():
    summary = seed_summary(pd.Series([0.1, 0.2, 0.3]))
    assert summary["mean"] == pytest.approx(0.2) and summary["std"] == pytest.approx(0.1) and summary["n_seeds"] == 3


def test_history_buckets_follow_the_documented_edges():
    assert list(history_bucket([0, 1, 2, 5, 6, 20, 21])) == ["0", "1", "2-5", "2-5", "6-20", "6-20", ">20"]


def test_group_summary_reports_each_group_mean_and_count():
    per_user = pd.DataFrame({"ndcg@20": [1.0, 0.0, 0.5, np.nan]})
    table = group_summary(per_user, "ndcg@20", pd.Series(["F", "F", "M", "M"]), n_bootstrap=100)
    assert list(table["group"]) == ["F", "M"]
    assert list(table["mean"]) == [0.5, 0.5] and list(table["n_users"]) == [2, 1]
