"""Synthetic data: deterministic, well-formed at any size, and with attributes that carry real signal."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.data.synthetic import AGE_GROUPS, generate_synthetic


def _mean_auc(scores: pd.DataFrame) -> float:
    """Mean over users of the AUC of `score` for positives (`label` 1) against the user's other candidates."""
    aucs = []
    for _, group in scores.groupby("user_id"):
        labels = group["label"].to_numpy()
        if labels.all() or not labels.any():
            continue
        ranks = group["score"].rank().to_numpy()
        n_pos, n_neg = labels.sum(), (~labels).sum()
        aucs.append((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
    return float(np.mean(aucs))


def _all_pairs(users, items) -> pd.DataFrame:
    return pd.MultiIndex.from_product([users, items], names=["user_id", "item_id"]).to_frame(index=False)


def _user_groups(users: pd.DataFrame) -> pd.Series:
    edges = [low for low, _ in AGE_GROUPS[1:]]
    age_group = np.searchsorted(edges, users["age"].to_numpy(), side="right")
    return pd.Series(users["occupation"].to_numpy() + "/" + age_group.astype(str), index=users["user_id"].to_numpy())


def test_same_seed_gives_identical_data_and_another_seed_differs():
    first, again, other = (generate_synthetic(80, 60, 900, seed=s) for s in (3, 3, 4))
    pd.testing.assert_frame_equal(first.interactions, again.interactions)
    pd.testing.assert_frame_equal(first.items, again.items)
    pd.testing.assert_frame_equal(first.users, again.users)
    assert not first.interactions.equals(other.interactions)


def test_tiny_sizes_give_a_complete_dataset_with_one_row_per_pair():
    data = generate_synthetic(n_users=50, n_items=40, n_interactions=600, seed=0)
    frame = data.interactions
    assert len(frame) == 600
    assert not frame.duplicated(["user_id", "item_id"]).any()
    assert set(frame["user_id"]) <= set(data.users["user_id"]) and len(data.users) == 50
    assert set(frame["item_id"]) <= set(data.items["item_id"]) and len(data.items) == 40
    assert frame["rating"].between(1, 5).all() and set(frame["rating"].unique()) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    assert frame["timestamp"].is_monotonic_increasing and frame["timestamp"].dtype == np.int64
    assert data.item_kinds == {"category": "categorical", "tags": "multi", "price": "numeric", "title": "text"}
    assert data.user_kinds == {"age": "numeric", "occupation": "categorical", "region": "categorical"}
    assert data.feedback.kind == "explicit" and data.feedback.positive_threshold == 4.0
    assert data.items["tags"].str.contains("|", regex=False).any()


def test_asking_for_more_pairs_than_exist_returns_distinct_pairs_only():
    data = generate_synthetic(n_users=3, n_items=4, n_interactions=100, seed=1)
    assert len(data.interactions) <= 12
    assert not data.interactions.duplicated(["user_id", "item_id"]).any()


def test_popularity_has_a_long_tail():
    counts = generate_synthetic(500, 400, 20_000, seed=2).interactions["item_id"].value_counts()
    top_tenth = counts.head(len(counts) // 10).sum()
    assert top_tenth > 0.3 * counts.sum()  # a uniform catalogue would give about 10%


def test_item_attributes_predict_who_likes_held_out_items():
    """A scorer that only knows a new item's category and its user's attribute group beats random (AUC 0.5)."""
    data = generate_synthetic(600, 300, 24_000, seed=5)
    rng = np.random.default_rng(0)
    new_items = set(rng.choice(data.items["item_id"].to_numpy(), size=60, replace=False))
    groups = _user_groups(data.users)
    category = data.items.set_index("item_id")["category"]
    frame = data.positives()
    frame = frame.assign(group=groups.reindex(frame["user_id"]).to_numpy(),
                         category=category.reindex(frame["item_id"]).to_numpy())
    train = frame.loc[~frame["item_id"].isin(new_items)]
    test = frame.loc[frame["item_id"].isin(new_items)]
    share = train.groupby(["group", "category"]).size() / train.groupby("group").size()
    users = test["user_id"].unique()
    candidates = _all_pairs(users, sorted(new_items))
    keys = zip(groups.reindex(candidates["user_id"]), category.reindex(candidates["item_id"]))
    candidates["score"] = share.reindex(list(keys)).fillna(0.0).to_numpy()
    positives = set(zip(test["user_id"], test["item_id"]))
    candidates["label"] = [pair in positives for pair in zip(candidates["user_id"], candidates["item_id"])]
    assert _mean_auc(candidates) > 0.7


def test_user_attributes_beat_global_popularity_for_new_users():
    """For users unseen in training, popularity within their attribute group ranks better than global popularity."""
    data = generate_synthetic(800, 200, 30_000, seed=6)
    rng = np.random.default_rng(1)
    new_users = set(rng.choice(data.users["user_id"].to_numpy(), size=150, replace=False))
    groups = _user_groups(data.users)
    frame = data.positives()
    frame = frame.assign(group=groups.reindex(frame["user_id"]).to_numpy())
    train = frame.loc[~frame["user_id"].isin(new_users)]
    test = frame.loc[frame["user_id"].isin(new_users)]
    global_pop = train["item_id"].value_counts()
    group_pop = train.groupby(["group", "item_id"]).size() / train.groupby("group").size()
    users = test["user_id"].unique()
    candidates = _all_pairs(users, data.items["item_id"])
    positives = set(zip(test["user_id"], test["item_id"]))
    candidates["label"] = [pair in positives for pair in zip(candidates["user_id"], candidates["item_id"])]
    by_popularity = candidates.assign(score=global_pop.reindex(candidates["item_id"]).fillna(0).to_numpy())
    keys = zip(groups.reindex(candidates["user_id"]), candidates["item_id"])
    # ties within a group are broken by global popularity, so the comparison isolates what attributes add
    by_group = candidates.assign(score=group_pop.reindex(list(keys)).fillna(0).to_numpy()
                                 + 1e-6 * by_popularity["score"].to_numpy())
    assert _mean_auc(by_group) > _mean_auc(by_popularity) + 0.05


def test_too_small_a_request_is_refused_with_a_clear_message():
    with pytest.raises(ValueError, match="at least 2 users"):
        generate_synthetic(n_users=1, n_items=10, n_interactions=5)
