"""Index a split for models: id maps, the sparse training matrix, and queries for users and items to score."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from engine.core.data import ItemQuery, TrainData, UserQuery
from engine.core.features import FeatureMatrix
from engine.data.dataset import Dataset
from engine.data.features import encode_attributes


def dataset_features(dataset: Dataset) -> tuple[FeatureMatrix | None, FeatureMatrix | None]:
    """User and item feature matrices over every entity of the dataset (cold ones included)."""
    users = encode_attributes(dataset.users, "user_id", dataset.user_kinds) if dataset.users is not None else None
    items = encode_attributes(dataset.items, "item_id", dataset.item_kinds) if dataset.items is not None else None
    return (users if users is not None and users.n_features else None,
            items if items is not None and items.n_features else None)


def build_train_data(train: pd.DataFrame, dataset: Dataset | None = None,
                     features: tuple[FeatureMatrix | None, FeatureMatrix | None] | None = None) -> TrainData:
    """TrainData from a training frame (`user_id`, `item_id`, `weight`, optional `rating`, `timestamp`).

    Rows with weight > 0 form the positive matrix; all rows with a rating form the ratings matrix.
    Users and items are indexed in sorted id order, so the same split always gives the same indexing.
    """
    frame = train.copy()
    frame["user_id"] = frame["user_id"].astype(str)
    frame["item_id"] = frame["item_id"].astype(str)
    if "weight" not in frame.columns:
        frame["weight"] = 1.0
    user_ids, frame["user_idx"] = sorted_codes(frame["user_id"])
    item_ids, frame["item_idx"] = sorted_codes(frame["item_id"])
    shape = (len(user_ids), len(item_ids))
    positive = frame.loc[frame["weight"] > 0]
    matrix = sp.csr_matrix(
        (positive["weight"].to_numpy(np.float32), (positive["user_idx"].to_numpy(), positive["item_idx"].to_numpy())),
        shape=shape,
    )
    ratings = None
    if "rating" in frame.columns and frame["rating"].notna().any():
        rated = frame.loc[frame["rating"].notna()]
        ratings = sp.csr_matrix(
            (rated["rating"].to_numpy(np.float32), (rated["user_idx"].to_numpy(), rated["item_idx"].to_numpy())),
            shape=shape,
        )
    if features is None:
        features = dataset_features(dataset) if dataset is not None else (None, None)
    user_features, item_features = features
    return TrainData(user_ids, item_ids, matrix, positive.reset_index(drop=True), ratings, user_features, item_features)


def sorted_codes(ids: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """The distinct ids in sorted order and each row's position among them.

    One hash pass over the rows (factorize) and a sort of the distinct ids only, so the cost grows linearly with
    the rows; looking every row up in a sorted index instead hashes each string a second time."""
    codes, uniques = pd.factorize(ids)
    uniques = np.asarray(uniques, dtype=object)
    order = np.argsort(uniques, kind="stable")
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return uniques[order], rank[codes]


def _revealed_rows(ids: np.ndarray, revealed: pd.DataFrame | None, own: str, other: str,
                   other_ids: np.ndarray) -> sp.csr_matrix:
    """A len(ids) x len(other_ids) matrix of revealed interactions (rows outside `other_ids` are dropped)."""
    if revealed is None or revealed.empty:
        return sp.csr_matrix((len(ids), len(other_ids)), dtype=np.float32)
    rows = pd.Index(ids).get_indexer(revealed[own].astype(str))
    cols = pd.Index(other_ids).get_indexer(revealed[other].astype(str))
    keep = (rows >= 0) & (cols >= 0)
    weight = revealed["weight"].to_numpy(np.float32) if "weight" in revealed.columns else np.ones(len(revealed), np.float32)
    matrix = sp.csr_matrix((weight[keep], (rows[keep], cols[keep])), shape=(len(ids), len(other_ids)))
    matrix.sum_duplicates()
    return matrix


def _training_rows(index: np.ndarray, matrix: sp.spmatrix) -> sp.csr_matrix:
    """Row `index[j]` of `matrix` for each known entity j, an empty row where `index[j] == -1`.

    A selection-matrix product rather than row assignment into a LIL matrix, which is slow for large queries."""
    known = np.flatnonzero(index >= 0)
    selection = sp.csr_matrix((np.ones(len(known), dtype=np.float32), (known, index[known])),
                              shape=(len(index), matrix.shape[0]))
    return sp.csr_matrix(selection @ matrix)


def user_query(data: TrainData, user_ids, revealed: pd.DataFrame | None = None) -> UserQuery:
    """Query for `user_ids`: known users carry their training row, new users their revealed interactions."""
    ids = np.asarray([str(u) for u in user_ids], dtype=object)
    index = pd.Index(data.user_ids).get_indexer(ids).astype(np.int64)
    history = _training_rows(index, data.matrix) + _revealed_rows(ids, revealed, "user_id", "item_id", data.item_ids)
    features = data.user_features.rows(ids) if data.user_features is not None else None
    return UserQuery(ids, index, sp.csr_matrix(history, dtype=np.float32), features)


def item_query(data: TrainData, item_ids, revealed: pd.DataFrame | None = None) -> ItemQuery:
    """Query for candidate `item_ids`: known items carry their training column, new ones revealed interactions."""
    ids = np.asarray([str(i) for i in item_ids], dtype=object)
    index = pd.Index(data.item_ids).get_indexer(ids).astype(np.int64)
    history = _training_rows(index, data.matrix.T) + _revealed_rows(ids, revealed, "item_id", "user_id", data.user_ids)
    features = data.item_features.rows(ids) if data.item_features is not None else None
    return ItemQuery(ids, index, sp.csr_matrix(history, dtype=np.float32), features)
