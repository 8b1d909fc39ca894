"""Training users, items or interactions held out: more evidence for auto's choice than one validation slice holds.

A cold-user validation slice of a hundred users cannot tell apart candidates that differ by 0.01 NDCG: which one
validates best is then close to chance. The users of the training part are drawn from the same population, so a
fold of them, removed from training and ranked as new users, is a second validation slice of the same kind (the
"leave users out" cross-validation of cold-start evaluation). A fold is the size of the validation slice, so each
refit trains on about as much data as the real one did. A warm slice holds a few positives of every user; a fold
of it holds out as large a share of each training user's positives (K-fold cross-validation of the interactions).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import pandas as pd

from engine.core.data import TrainData
from engine.data.indexing import build_train_data
from engine.protocols.split import EvalSlice

NewSide = Literal["users", "items"]
HeldOutSide = Literal["users", "items", "interactions"]


def held_out_count(evaluation_slice: EvalSlice, side: HeldOutSide) -> int:
    """How many users (items, interactions) a validation slice holds out."""
    if side == "interactions":
        return len(evaluation_slice.truth)
    return int(evaluation_slice.truth[_column(side)].nunique())


def _column(side: NewSide) -> str:
    return "user_id" if side == "users" else "item_id"


@dataclass(frozen=True)
class HeldOutFold:
    """Training users (or items) to hold out as new, standing in for a validation slice of that kind."""

    column: str
    """`user_id` or `item_id`: which side is held out."""
    held: np.ndarray
    number: int

    def split(self, data: TrainData, evaluation_slice: EvalSlice) -> tuple[TrainData, EvalSlice] | None:
        """The training data without the fold, and the fold as a validation slice shaped like `evaluation_slice`;
        None when none of the fold's positives can be scored."""
        rows = _training_rows(data)
        fold_data = build_train_data(rows.loc[~rows[self.column].isin(self.held)],
                                     features=(data.user_features, data.item_features))
        truth = _fold_truth(data.interactions, fold_data, self.column, self.held)
        if truth.empty:
            return None
        candidates = fold_data.item_ids if self.column == "user_id" else np.sort(self.held)
        return fold_data, _fold_slice(evaluation_slice, self.number, truth, candidates)


@dataclass(frozen=True)
class HeldOutRows:
    """Training positives to hold out, a few of each user's, standing in for a warm validation slice."""

    held: np.ndarray
    """Positions in the training positives (`TrainData.interactions`)."""
    number: int

    def split(self, data: TrainData, evaluation_slice: EvalSlice) -> tuple[TrainData, EvalSlice] | None:
        """The training data without the fold's positives, and those positives as a validation slice shaped like
        `evaluation_slice`; None when none of them can be scored (their user or item gone with them)."""
        rows = _training_rows(data)
        kept = np.ones(len(rows), dtype=bool)
        kept[self.held] = False  # the positives come first in `_training_rows`, in their order
        fold_data = build_train_data(rows.loc[kept], features=(data.user_features, data.item_features))
        truth = data.interactions.iloc[self.held].drop(columns=["user_idx", "item_idx"], errors="ignore")
        truth = truth.loc[truth["user_id"].isin(fold_data.user_ids) & truth["item_id"].isin(fold_data.item_ids)]
        if truth.empty:
            return None
        return fold_data, _fold_slice(evaluation_slice, self.number, truth.reset_index(drop=True), fold_data.item_ids)


def _fold_slice(evaluation_slice: EvalSlice, number: int, truth: pd.DataFrame, candidates: np.ndarray) -> EvalSlice:
    """Fold `number` as a validation slice shaped like `evaluation_slice`: its positives, ranked among `candidates`,
    nothing revealed."""
    return replace(evaluation_slice, name=f"{evaluation_slice.name}, held-out fold {number}", truth=truth,
                   candidate_items=np.asarray(candidates, dtype=object), revealed=None, shots=None)


def held_out_folds(data: TrainData, evaluation_slice: EvalSlice, side: HeldOutSide, n_folds: int,
                   seed: int) -> list[HeldOutFold] | list[HeldOutRows]:
    """Up to `n_folds` disjoint folds of training users (or items, or interactions). A fold of users (items) holds
    as many as the slice does, at most a third of the training ones; fewer folds when there are not enough of them
    to keep the folds disjoint."""
    if side == "interactions":
        return _row_folds(data, evaluation_slice, n_folds, seed)
    new_side: NewSide = side
    entities = np.asarray(data.user_ids if new_side == "users" else data.item_ids, dtype=object)
    size = min(held_out_count(evaluation_slice, new_side), len(entities) // 3)
    n_folds = min(n_folds, len(entities) // size if size else 0)
    order = np.random.default_rng([seed, 0 if new_side == "users" else 1]).permutation(len(entities))
    return [HeldOutFold(_column(new_side), entities[order[fold * size:(fold + 1) * size]], fold + 1)
            for fold in range(n_folds)]


def _row_folds(data: TrainData, evaluation_slice: EvalSlice, n_folds: int, seed: int) -> list[HeldOutRows]:
    """Disjoint folds of training positives: each holds the slice's share of every user's positives (at least one),
    drawn at random, and leaves the user at least one in training; a user with too few positives sits a fold out."""
    users = data.interactions["user_id"].to_numpy()
    if not len(users) or n_folds < 1:
        return []
    share = len(evaluation_slice.truth) / len(users)
    shuffled = np.random.default_rng([seed, 2]).permutation(len(users))
    positions = shuffled[np.argsort(users[shuffled], kind="stable")]  # grouped by user, random within a user
    _, starts, counts = np.unique(users[positions], return_index=True, return_counts=True)
    per_user = np.repeat(counts, counts)
    rank = np.arange(len(positions)) - np.repeat(starts, counts)
    size = np.maximum(1, np.floor(share * per_user)).astype(np.int64)
    folds = []
    for fold in range(n_folds):
        chosen = (rank >= fold * size) & (rank < (fold + 1) * size) & ((fold + 1) * size < per_user)
        if chosen.any():
            folds.append(HeldOutRows(np.sort(positions[chosen]), len(folds) + 1))
    return folds


def _training_rows(data: TrainData) -> pd.DataFrame:
    """The rows behind `data`: its positives, and the rated rows that are not positive (weight 0)."""
    positives = data.interactions.drop(columns=["user_idx", "item_idx"], errors="ignore")
    if data.ratings is None:
        return positives
    rated = data.ratings.tocoo()
    not_positive = np.asarray(data.matrix[rated.row, rated.col]).ravel() == 0
    others = pd.DataFrame({"user_id": data.user_ids[rated.row[not_positive]],
                           "item_id": data.item_ids[rated.col[not_positive]], "weight": 0.0,
                           "rating": rated.data[not_positive]})
    return pd.concat([positives, others], ignore_index=True)


def _fold_truth(positives: pd.DataFrame, fold_data: TrainData, column: str, held: np.ndarray) -> pd.DataFrame:
    """The held-out entities' positives that the fold can score: with a user (item) still known on the other side."""
    truth = positives.loc[positives[column].isin(held)]
    other = "item_id" if column == "user_id" else "user_id"
    known = fold_data.item_ids if column == "user_id" else fold_data.user_ids
    truth = truth.loc[truth[other].isin(known)]
    return truth.drop(columns=["user_idx", "item_idx"], errors="ignore").reset_index(drop=True)
