"""The attribute features of users and items as one sparse matrix per side, the shape every feature-aware model reads.

`engine.data.features` builds a `FeatureMatrix` from an attribute table; models, the evaluator and Explore only read
it. A numeric or date field keeps its `NumericLayout`, so an entity made up later (a new user typed into Explore or
sent to the serving API) is encoded exactly as the training ones were.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

MAX_NUMERIC_BINS = 20
ROWS_PER_BIN = 25


@dataclass
class FeatureMatrix:
    """A sparse float32 matrix with one row per entity id and named columns grouped into fields."""

    ids: np.ndarray
    matrix: sp.csr_matrix
    columns: list[str]
    column_field: np.ndarray
    field_names: list[str]
    numeric_layouts: dict[str, "NumericLayout"] = field(default_factory=dict)
    """The z-score and bins of each numeric or date field, so a made-up entity can be encoded the same way."""

    @property
    def n_features(self) -> int:
        return self.matrix.shape[1]

    def rows(self, ids: np.ndarray | list[str]) -> sp.csr_matrix:
        """Feature rows for `ids` in order; ids without attributes get an all-zero row."""
        position = pd.Index(self.ids).get_indexer(np.asarray(ids, dtype=object))
        known = position >= 0
        picked = self.matrix[position[known]]
        if known.all():
            return picked.tocsr()
        out = sp.lil_matrix((len(position), self.n_features), dtype=np.float32)
        out[np.flatnonzero(known)] = picked
        return out.tocsr()

    def values(self, field: str, ids: np.ndarray | list[str]) -> sp.csr_matrix:
        """The columns of one field for `ids` (used to explain recommendations and to group users)."""
        index = self.field_names.index(field)
        return self.rows(ids)[:, np.flatnonzero(self.column_field == index)]


@dataclass
class NumericLayout:
    """How one numeric field is encoded: its mean and spread for the z-score, and its quantile bin edges."""

    mean: float
    std: float
    edges: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray) -> "NumericLayout":
        present = x[~np.isnan(x)]
        n_bins = int(np.clip(len(present) // ROWS_PER_BIN, 2, MAX_NUMERIC_BINS))
        edges = np.unique(np.quantile(present, np.linspace(0, 1, n_bins + 1)[1:-1]))
        return cls(float(present.mean()), float(present.std()) or 1.0, edges)

    def labels(self, name: str) -> list[str]:
        return [f"{name}"] + [f"{name}:bin{b}" for b in range(len(self.edges) + 1)]

    def encode(self, x: np.ndarray) -> sp.csr_matrix:
        """Rows of [z-score, one-hot bin]; a missing value gives an all-zero row."""
        present = ~np.isnan(x)
        z = (x[present] - self.mean) / self.std
        bins = np.searchsorted(self.edges, x[present], side="right")
        rows = np.concatenate([np.flatnonzero(present), np.flatnonzero(present)])
        cols = np.concatenate([np.zeros(present.sum(), dtype=int), 1 + bins])
        data = np.concatenate([z, np.ones(present.sum())]).astype(np.float32)
        return sp.csr_matrix((data, (rows, cols)), shape=(len(x), len(self.edges) + 2))
