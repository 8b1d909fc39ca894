"""Held-out folds of training users or items: extra validation slices of the same kind for auto's choice."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from engine.core.data import TrainData
from engine.data.indexing import build_train_data, dataset_features
from engine.data.synthetic import generate_synthetic
from engine.models._held_out import held_out_folds
from engine.runs.protocol_catalog import make_split
from engine.protocols.split import Split


@lru_cache(maxsize=None)
def world(protocol: str) -> tuple[Split, TrainData]:
    """Explicit ratings, and the low ones rated but not positive (as a ratings split's training part has them)."""
    dataset = generate_synthetic(n_users=200, n_items=150, n_interactions=5000, seed=3)
    split = make_split(dataset, protocol, 3, {})
    rows = split.train.assign(weight=(split.train["rating"] > 4).astype(float))
    return split, build_train_data(rows, dataset, dataset_features(dataset))


def test_user_folds_are_disjoint_new_users_sized_like_the_validation_slice() -> None:
    split, train = world("cold-user")
    evaluation_slice = split.valid[0]
    folds = held_out_folds(train, evaluation_slice, "users", 3, seed=3)
    assert len(folds) == 3
    size = evaluation_slice.truth["user_id"].nunique()
    held = [set(fold.held) for fold in folds]
    assert all(len(users) == size for users in held)
    assert not (held[0] & held[1]) and not (held[1] & held[2])
    for fold in folds:
        fold_data, fold_slice = fold.split(train, evaluation_slice)
        assert not set(fold.held) & set(fold_data.user_ids)  # the fold's users are new to the refit
        assert set(fold_slice.truth["user_id"]) <= set(fold.held)
        assert set(fold_slice.truth["item_id"]) <= set(fold_data.item_ids)
        assert list(fold_slice.candidate_items) == list(fold_data.item_ids)
        assert fold_slice.new_users and not fold_slice.new_items and fold_slice.revealed is None
        # every positive of a held-out user on a still-known item is to be found, with its weight
        positives = train.interactions.loc[train.interactions["user_id"].isin(fold.held)
                                           & train.interactions["item_id"].isin(fold_data.item_ids)]
        assert len(fold_slice.truth) == len(positives)
        assert fold_slice.truth["weight"].sum() == positives["weight"].sum()
        # the remaining users keep every training row, rated-but-not-positive ones included
        kept = ~train.interactions["user_id"].isin(fold.held)
        assert fold_data.matrix.nnz == kept.sum()
        assert fold_data.ratings.nnz == train.ratings[np.isin(train.user_ids, fold_data.user_ids)].nnz
        assert fold_data.ratings.nnz > fold_data.matrix.nnz


def test_item_folds_rank_their_held_out_items_among_themselves_for_users_still_known() -> None:
    split, train = world("cold-item")
    evaluation_slice = split.valid[0]
    folds = held_out_folds(train, evaluation_slice, "items", 2, seed=3)
    assert len(folds) == 2
    for fold in folds:
        fold_data, fold_slice = fold.split(train, evaluation_slice)
        assert not set(fold.held) & set(fold_data.item_ids)
        assert sorted(fold_slice.candidate_items) == sorted(fold.held)
        assert set(fold_slice.truth["item_id"]) <= set(fold.held)
        assert set(fold_slice.truth["user_id"]) <= set(fold_data.user_ids)
        assert fold_slice.new_items and not fold_slice.new_users
        assert fold_slice.name == f"cold-item, held-out fold {fold.number}"


def test_fewer_folds_when_the_training_part_cannot_hold_them_apart() -> None:
    split, train = world("cold-user")
    evaluation_slice = split.valid[0]
    size = evaluation_slice.truth["user_id"].nunique()
    assert len(held_out_folds(train, evaluation_slice, "users", 5, seed=3)) == min(5, train.n_users // size)
    tiny = evaluation_slice.truth.head(0)
    assert held_out_folds(train, type(evaluation_slice)(**{**vars(evaluation_slice), "truth": tiny}),
                          "users", 3, seed=3) == []


def test_the_same_seed_holds_out_the_same_users() -> None:
    split, train = world("cold-user")
    first = held_out_folds(train, split.valid[0], "users", 2, seed=3)
    again = held_out_folds(train, split.valid[0], "users", 2, seed=3)
    other = held_out_folds(train, split.valid[0], "users", 2, seed=4)
    assert all(np.array_equal(a.held, b.held) for a, b in zip(first, again))
    assert not np.array_equal(first[0].held, other[0].held)


def test_interaction_folds_hold_out_a_share_of_each_users_positives_and_keep_the_rest() -> None:
    split, train = world("warm")
    evaluation_slice = split.valid[0]
    folds = held_out_folds(train, evaluation_slice, "interactions", 3, seed=3)
    assert [fold.number for fold in folds] == [1, 2, 3]
    held = [set(fold.held) for fold in folds]
    assert not (held[0] & held[1]) and not (held[0] & held[2]) and not (held[1] & held[2])
    share = len(evaluation_slice.truth) / len(train.interactions)
    counts = train.interactions["user_id"].value_counts()
    for fold in folds:
        rows = train.interactions.iloc[fold.held]
        per_user = rows["user_id"].value_counts()
        # each user in the fold gives the slice's share of their positives (at least one) and keeps at least one
        expected = np.maximum(1, np.floor(share * counts[per_user.index])).astype(int)
        assert (per_user == expected).all()
        assert (counts[per_user.index] > per_user).all()
        fold_data, fold_slice = fold.split(train, evaluation_slice)
        assert fold_slice.name == f"warm, held-out fold {fold.number}"
        assert not fold_slice.new_users and not fold_slice.new_items
        assert list(fold_slice.candidate_items) == list(fold_data.item_ids)
        # the held-out positives are out of the refit's training part and are what the fold asks for
        assert fold_data.matrix.nnz == len(train.interactions) - len(rows)
        truth = set(zip(fold_slice.truth["user_id"], fold_slice.truth["item_id"]))
        assert truth <= set(zip(rows["user_id"], rows["item_id"]))
        assert len(truth) >= 0.95 * len(rows)  # all but positives whose item had no other training row
        assert fold_data.ratings.nnz == train.ratings.nnz - len(rows)  # rated-but-not-positive rows stay
    # a user with a single positive keeps it: never held out
    singles = set(counts[counts == 1].index)
    assert not singles & set(train.interactions.iloc[np.concatenate([f.held for f in folds])]["user_id"])
