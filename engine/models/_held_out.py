"""Training users (or items) held out as if new: more evidence for auto's choice than one validation slice holds.

A cold-user validation slice of a hundred users cannot tell apart candidates that differ by 0.01 NDCG: which one
validates best is then close to chance. The users of the training part are drawn from the same population, so a
fold of them, removed from training and ranked as new users, is a second validation slice of the same kind (the
"leave users out" cross-validation of cold-start evaluation). A fold is the size of the validation slice, so each
refit trains on about as much data as the real one did.
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


def held_out_count(evaluation_slice: EvalSlice, side: NewSide) -> int:
    """How many users (items) a validation slice holds out."""
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
        return fold_data, replace(evaluation_slice, name=f"{evaluation_slice.name}, held-out fold {self.number}",
                                  truth=truth, candidate_items=np.asarray(candidates, dtype=object),
                                  revealed=None, shots=None)


def held_out_folds(data: TrainData, evaluation_slice: EvalSlice, new_side: NewSide, n_folds: int,
                   seed: int) -> list[HeldOutFold]:
    """Up to `n_folds` disjoint folds of training users (or items). A fold holds as many as the slice does, at most
    a third of the training ones; fewer folds when there are not enough of them to keep the folds disjoint."""
    entities = np.asarray(data.user_ids if new_side == "users" else data.item_ids, dtype=object)
    size = min(held_out_count(evaluation_slice, new_side), len(entities) // 3)
    n_folds = min(n_folds, len(entities) // size if size else 0)
    order = np.random.default_rng([seed, 0 if new_side == "users" else 1]).permutation(len(entities))
    return [HeldOutFold(_column(new_side), entities[order[fold * size:(fold + 1) * size]], fold + 1)
            for fold in range(n_folds)]


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
