"""The one feature encoder for models: sparse attribute rows (engine.data.features.FeatureMatrix) -> torch.

- `SparseRows`: a batch of CSR rows as torch tensors (column indices, row offsets, values);
- `FeatureTable`: every training entity's rows kept on the device, gathered by index without leaving it;
- `FeatureBag`: one embedding per feature column, a row is the value-weighted sum (LightFM's feature sum;
  multi-hot values already weigh 1/k and numerics carry their z-score, so every attribute kind fits);
- `FieldEmbeddings`: the same per field (FeatureMatrix.column_field), giving (rows, fields, dim) for FM-style
  models that interact fields pairwise (DeepFM) or attend over them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn


@dataclass
class SparseRows:
    """`n_rows` CSR rows: row r holds columns indices[offsets[r]:offsets[r+1]] with values weights[...]."""

    indices: torch.Tensor
    offsets: torch.Tensor
    weights: torch.Tensor
    n_rows: int

    @classmethod
    def from_csr(cls, matrix: sp.csr_matrix, device: torch.device | str = "cpu") -> "SparseRows":
        """Convert scipy CSR rows (e.g. UserQuery.features) for the model's device."""
        matrix = sp.csr_matrix(matrix)
        return cls(
            torch.from_numpy(matrix.indices.astype(np.int64)).to(device),
            torch.from_numpy(matrix.indptr.astype(np.int64)).to(device),
            torch.from_numpy(matrix.data.astype(np.float32)).to(device),
            matrix.shape[0],
        )

    def row_of_entry(self) -> torch.Tensor:
        """The row each stored entry belongs to."""
        lengths = self.offsets[1:] - self.offsets[:-1]
        return torch.repeat_interleave(torch.arange(self.n_rows, device=self.offsets.device), lengths)


class FeatureTable:
    """Feature rows of all training users (or items) on the device, gathered by training index per batch."""

    def __init__(self, matrix: sp.csr_matrix, device: torch.device | str = "cpu") -> None:
        self.all_rows = SparseRows.from_csr(matrix, device)
        self.n_features = matrix.shape[1]

    def rows(self, index: torch.Tensor) -> SparseRows:
        """The rows at `index` (a LongTensor on the table's device), vectorised on the device."""
        indptr = self.all_rows.offsets
        starts = indptr[index]
        lengths = indptr[index + 1] - starts
        offsets = torch.zeros(len(index) + 1, dtype=torch.int64, device=indptr.device)
        torch.cumsum(lengths, dim=0, out=offsets[1:])
        # entry j of the output row r sits at starts[r] + (j - offsets[r]) in the full table
        shift = torch.repeat_interleave(starts - offsets[:-1], lengths)
        positions = shift + torch.arange(int(offsets[-1]), device=indptr.device)
        return SparseRows(self.all_rows.indices[positions], offsets, self.all_rows.weights[positions], len(index))


class FeatureBag(nn.Module):
    """A row's embedding = sum over its feature columns of value * embedding(column)."""

    def __init__(self, n_features: int, dim: int, init_std: float = 0.01) -> None:
        super().__init__()
        if n_features < 1:
            raise ValueError("FeatureBag needs at least one feature column")
        self.bag = nn.EmbeddingBag(n_features, dim, mode="sum")
        nn.init.normal_(self.bag.weight, std=init_std)

    def forward(self, rows: SparseRows) -> torch.Tensor:
        """(rows.n_rows, dim); rows without features give zeros."""
        return self.bag(rows.indices, rows.offsets[:-1], per_sample_weights=rows.weights)


class FieldEmbeddings(nn.Module):
    """Per-field feature sums: (n_rows, n_fields, dim), an all-zero field where a row has no value."""

    def __init__(self, column_field: np.ndarray, n_fields: int, dim: int, init_std: float = 0.01) -> None:
        super().__init__()
        if len(column_field) == 0 or n_fields < 1:
            raise ValueError("FieldEmbeddings needs at least one feature column and one field")
        self.n_fields = n_fields
        self.embedding = nn.Embedding(len(column_field), dim)
        nn.init.normal_(self.embedding.weight, std=init_std)
        self.register_buffer("column_field", torch.as_tensor(np.asarray(column_field), dtype=torch.int64))

    def forward(self, rows: SparseRows) -> torch.Tensor:
        bag = rows.row_of_entry() * self.n_fields + self.column_field[rows.indices]
        values = self.embedding(rows.indices) * rows.weights.unsqueeze(1)
        out = torch.zeros(rows.n_rows * self.n_fields, values.shape[1], device=values.device, dtype=values.dtype)
        out.index_add_(0, bag, values)
        return out.view(rows.n_rows, self.n_fields, -1)
