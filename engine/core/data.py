"""What a model is fitted on (`TrainData`) and what it scores (`Query`, one for users and one for items).

`TrainData` is the training part of a split as a sparse user x item matrix, plus attribute features for *all* users
and items of the dataset, so cold ones can be looked up. A query carries, per entity, its training index (or -1 when
the model never saw it), its revealed interactions (`history`) and its attribute features: everything a model may
legitimately use at inference. `engine.data.indexing` builds both from a split.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from engine.core.features import FeatureMatrix


@dataclass
class TrainData:
    """The training part of a split, indexed for models.

    `matrix[u, i]` is the positive weight of known user u on known item i (0 = no positive interaction).
    `ratings` holds explicit ratings of all training rows (positive or not) when the dataset has them.
    `user_features` / `item_features` cover every user / item of the dataset, known or cold.
    """

    user_ids: np.ndarray
    item_ids: np.ndarray
    matrix: sp.csr_matrix
    interactions: pd.DataFrame
    ratings: sp.csr_matrix | None = None
    user_features: FeatureMatrix | None = None
    item_features: FeatureMatrix | None = None

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)


@dataclass
class Query:
    """Users or items to score. `index[j] == -1` marks an entity the model never saw in training.

    `history` holds each entity's revealed interactions with the *other* side's training entities: a user query's
    is n x n_train_items, an item query's n x n_train_users (a new item's rows name the users who already had it).
    """

    ids: np.ndarray
    index: np.ndarray
    history: sp.csr_matrix
    features: sp.csr_matrix | None = None

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def is_new(self) -> np.ndarray:
        return self.index < 0

    def take(self, rows: np.ndarray | slice) -> "Query":
        """The entities at `rows` (positions or a slice), with their histories and features."""
        return Query(self.ids[rows], self.index[rows], self.history[rows],
                     None if self.features is None else self.features[rows])


UserQuery = Query
"""A query of users: the name says which side's history it holds, as in every `score(users, items)` signature."""
ItemQuery = Query
"""A query of candidate items: the name says which side's history it holds."""


def seen_mask(users: UserQuery, items: ItemQuery) -> torch.Tensor:
    """Boolean (n_users, n_items): True where the user's history already holds the candidate item."""
    mask = torch.zeros((len(users), len(items)), dtype=torch.bool)
    rows, cols = seen_positions(users, items)
    mask[torch.from_numpy(rows), torch.from_numpy(cols)] = True
    return mask


def seen_positions(users: UserQuery, items: ItemQuery) -> tuple[np.ndarray, np.ndarray]:
    """(user position, candidate position) of every candidate already in the user's history: `seen_mask`'s True
    cells, without a dense users x candidates matrix (rankings set these scores to -inf in place)."""
    parts: list[tuple[np.ndarray, np.ndarray]] = []
    known_items = items.index >= 0
    if known_items.any() and users.history.nnz:
        columns = np.flatnonzero(known_items)
        trained = items.index[known_items]
        if len(np.unique(trained)) == len(trained):
            # each history entry looked up in a candidate-position table: linear in the history, where slicing
            # the history's columns cost time in the number of candidates for every chunk of users
            history = sp.csr_matrix(users.history)
            position = np.full(history.shape[1], -1, dtype=np.int64)
            position[trained] = columns
            rows = np.repeat(np.arange(history.shape[0], dtype=np.int64), np.diff(history.indptr))
            cols = position[history.indices]
            hit = (cols >= 0) & (history.data != 0)
            parts.append((rows[hit], cols[hit]))
        else:  # a candidate listed twice: both positions are seen
            rows, cols = users.history[:, trained].nonzero()
            parts.append((rows.astype(np.int64), columns[cols]))
    new_items = ~known_items
    if new_items.any() and items.history.nnz:
        # a new item's revealed interactions name the known users who already had it
        user_position = np.full(items.history.shape[1], -1, dtype=np.int64)
        known_users = np.flatnonzero(users.index >= 0)
        user_position[users.index[known_users]] = known_users
        new_cols = np.flatnonzero(new_items)
        coo = items.history[new_cols].tocoo()
        rows = user_position[coo.col]
        hit = rows >= 0
        parts.append((rows[hit], new_cols[coo.row[hit]]))
    if not parts:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
