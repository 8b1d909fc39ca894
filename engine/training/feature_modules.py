"""The one feature encoder for models: sparse attribute rows (engine.core.features.FeatureMatrix) -> torch.

- `SparseRows`: a batch of CSR rows as torch tensors (column indices, row offsets, values);
- `FeatureTable`: every training entity's rows kept on the device, gathered by index without leaving it;
- `FeatureBag`: one embedding per feature column, a row is the value-weighted sum (LightFM's feature sum;
  multi-hot values already weigh 1/k and numerics carry their z-score, so every attribute kind fits);
- `FieldEmbeddings`: the same per field (FeatureMatrix.column_field), giving (rows, fields, dim) for FM-style
  models that interact fields pairwise (DeepFM) or attend over them;
- `CompiledRows` / `Attributes`: some entities' rows in the form a model's hand-written products take them
  (`attribute_rows`): read in place by compiled loops on a CPU, dense or sparse torch tensors elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from engine.core.features import FeatureMatrix
from engine.training import cpu_kernels


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

    def select(self, index: torch.Tensor) -> "SparseRows":
        """The rows at `index` (a LongTensor on the rows' device), gathered on the device."""
        starts = self.offsets[index]
        lengths = self.offsets[index + 1] - starts
        offsets = torch.zeros(len(index) + 1, dtype=torch.int64, device=starts.device)
        torch.cumsum(lengths, dim=0, out=offsets[1:])
        # entry j of the output row r sits at starts[r] + (j - offsets[r]) in these rows
        shift = torch.repeat_interleave(starts - offsets[:-1], lengths)
        positions = shift + torch.arange(int(offsets[-1]), device=starts.device)
        return SparseRows(self.indices[positions], offsets, self.weights[positions], len(index))

    def row_of_entry(self) -> torch.Tensor:
        """The row each stored entry belongs to."""
        lengths = self.offsets[1:] - self.offsets[:-1]
        return torch.repeat_interleave(torch.arange(self.n_rows, device=self.offsets.device), lengths)


def take_rows(values: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """`values[index]` along the first dimension, with a deterministic backward pass.

    Plain advanced indexing accumulates gradients of repeated indices in a thread-dependent order on CPU, so two
    runs with the same seed drift apart; the embedding lookup's backward does not.
    """
    if values.dim() == 1:
        return nn.functional.embedding(index, values.unsqueeze(1)).squeeze(-1)
    flat = values.reshape(len(values), -1)
    return nn.functional.embedding(index, flat).reshape(*index.shape, *values.shape[1:])


def training_features(features: FeatureMatrix | None, ids: np.ndarray) -> sp.csr_matrix | None:
    """Feature rows aligned with the training index (`TrainData.user_ids` / `item_ids`), or None without features."""
    if features is None or features.n_features == 0:
        return None
    return features.rows(ids)


def query_rows(features: sp.csr_matrix | None, device: torch.device, use: bool = True) -> SparseRows | None:
    """A query's feature rows (UserQuery.features / ItemQuery.features) on the model's device, None when unused."""
    return SparseRows.from_csr(features, device) if use and features is not None else None


class FeatureTable:
    """Feature rows of all training users (or items) on the device, gathered by training index per batch."""

    def __init__(self, matrix: sp.csr_matrix, device: torch.device | str = "cpu") -> None:
        self.all_rows = SparseRows.from_csr(matrix, device)
        self.n_features = matrix.shape[1]
        self._dense: torch.Tensor | None = None

    def rows(self, index: torch.Tensor) -> SparseRows:
        """The rows at `index` (a LongTensor on the table's device), vectorised on the device."""
        return self.all_rows.select(index)

    def attributes(self, index: torch.Tensor) -> "Attributes":
        """The rows at `index` for hand-written products (`attribute_rows`): on a CPU with numba nothing is
        gathered; elsewhere a narrow table within `DENSE_TABLE_MAX_CELLS` is laid out dense once and a batch
        copies its rows, where rebuilding them from the CSR entries cost 15x as much (a 1M two-tower batch 0.33 ->
        0.02 ms a side)."""
        rows = self.all_rows
        if (rows.indices.device.type == "cpu" and cpu_kernels.available()) or \
                not whole_table_dense(rows.n_rows, self.n_features):
            return attribute_rows(rows, self.n_features, index)
        if self._dense is None:
            self._dense = dense_rows(rows, self.n_features, torch.float32)
        return self._dense.index_select(0, index)


def training_table(features: FeatureMatrix | None, ids: np.ndarray, device: torch.device,
                   use: bool = True) -> FeatureTable | None:
    """The training entities' feature rows on the device, or None without features (or when switched off)."""
    matrix = training_features(features, ids) if use else None
    return FeatureTable(matrix, device) if matrix is not None else None


def table_rows(table: FeatureTable | None, index: torch.Tensor) -> SparseRows | None:
    """`table.rows(index)`, passing None through for models fitted without features on that side."""
    return table.rows(index) if table is not None else None


DENSE_ROWS_MAX_FEATURES = 256
"""Up to this many feature columns, `FeatureBag` and `FieldEmbeddings` multiply dense rows by their table: half
the time of EmbeddingBag's forward and backward, whose backward sorts the batch's entries (a few dozen attribute
columns are the common case); wider tables stay sparse."""
DENSE_TABLE_MAX_CELLS = 1 << 25
"""Up to this many entity x attribute cells (128 MB), a side's whole attribute table may be kept dense."""


def whole_table_dense(n_rows: int, n_features: int) -> bool:
    """Whether a side's whole attribute table is kept dense, so a batch's rows are one gather and its products one
    matrix product each way: narrow (`DENSE_ROWS_MAX_FEATURES`) and within `DENSE_TABLE_MAX_CELLS`."""
    return n_features <= DENSE_ROWS_MAX_FEATURES and n_rows * n_features <= DENSE_TABLE_MAX_CELLS


def dense_rows(rows: SparseRows, n_features: int, dtype: torch.dtype) -> torch.Tensor:
    """The rows as a dense (n_rows, n_features) matrix (repeated columns add up)."""
    dense = torch.zeros((rows.n_rows, n_features), dtype=dtype, device=rows.indices.device)
    return dense.index_put_((rows.row_of_entry(), rows.indices), rows.weights.to(dtype), accumulate=True)


@dataclass(frozen=True)
class CompiledRows:
    """Some entities' attribute rows: positions `rows` in a side's CSR rows (numpy arrays), for compiled products
    on a CPU (`cpu_kernels.csr_rows_product` and its transpose, DeepFM's field loops) that read them in place."""

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    rows: np.ndarray
    n_features: int


Attributes = torch.Tensor | SparseRows | CompiledRows
"""Some entities' attribute rows: compiled CSR rows on a CPU with numba; elsewhere dense (n, n_features) for
narrow tables, else sparse rows."""


def attribute_rows(rows: SparseRows, n_features: int, index: torch.Tensor | None = None) -> Attributes:
    """Rows `index` of `rows` (all of them when None) for hand-written products: on a CPU with numba the CSR
    arrays and the positions, nothing gathered; elsewhere gathered, dense up to `DENSE_ROWS_MAX_FEATURES` columns."""
    if rows.indices.device.type == "cpu" and cpu_kernels.available():
        positions = np.arange(rows.n_rows) if index is None else index.numpy()
        return CompiledRows(rows.offsets.numpy(), rows.indices.numpy(), rows.weights.numpy(), positions, n_features)
    if index is not None:
        rows = rows.select(index)
    return dense_rows(rows, n_features, torch.float32) if n_features <= DENSE_ROWS_MAX_FEATURES else rows


def rows_product(rows: Attributes, table: torch.Tensor) -> torch.Tensor:
    """rows @ table, (n_rows, table columns), for dense, sparse or compiled rows."""
    if isinstance(rows, CompiledRows):
        out = table.new_zeros((len(rows.rows), table.shape[1]))
        cpu_kernels.csr_rows_product(rows.indptr, rows.indices, rows.data, rows.rows,
                                     table.detach().contiguous().numpy(), out.numpy())
        return out
    if isinstance(rows, SparseRows):
        return nn.functional.embedding_bag(rows.indices, table, rows.offsets[:-1], mode="sum",
                                           per_sample_weights=rows.weights.to(table.dtype))
    return rows.to(table.dtype) @ table


def rows_transposed_product(rows: Attributes, values: torch.Tensor, n_features: int) -> torch.Tensor:
    """rows.T @ values, (n_features, values columns): the gradient of `rows_product`'s table."""
    if isinstance(rows, CompiledRows):
        out = values.new_zeros((n_features, values.shape[1]))
        cpu_kernels.csr_rows_transposed_product(rows.indptr, rows.indices, rows.data, rows.rows,
                                                values.detach().contiguous().numpy(), out.numpy())
        return out
    if isinstance(rows, SparseRows):
        weighted = values.index_select(0, rows.row_of_entry()) * rows.weights.unsqueeze(1).to(values.dtype)
        return values.new_zeros((n_features, values.shape[1])).index_add_(0, rows.indices, weighted)
    return rows.t().to(values.dtype) @ values


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
        weight = self.bag.weight
        if len(weight) <= DENSE_ROWS_MAX_FEATURES:
            return dense_rows(rows, len(weight), weight.dtype) @ weight
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

    def dense_field_sizes(self) -> list[int] | None:
        """Each field's number of columns when fields are numbered in column order (as the data layer builds
        them) and the table is narrow (`DENSE_ROWS_MAX_FEATURES`): field f's embeddings are then the dense rows'
        block of its columns times its block of the table, one small product per field. None otherwise."""
        field_order = self.column_field
        if len(field_order) > DENSE_ROWS_MAX_FEATURES or not bool((field_order[1:] >= field_order[:-1]).all()):
            return None
        return torch.bincount(field_order, minlength=self.n_fields).tolist()

    def forward(self, rows: SparseRows) -> torch.Tensor:
        """(rows.n_rows, n_fields, dim) field embeddings."""
        weight = self.embedding.weight
        sizes = self.dense_field_sizes()
        if sizes is not None:
            blocks = dense_rows(rows, len(weight), weight.dtype).split(sizes, dim=1)
            return torch.stack([block @ table for block, table in zip(blocks, weight.split(sizes))], dim=1)
        # one bag per (row, field); a stable sort makes each bag's entries contiguous for EmbeddingBag, unless
        # they already are (a row's columns in order and fields numbered in column order, as the data layer builds
        # them): one comparison pass instead of a sort per batch
        bag = rows.row_of_entry() * self.n_fields + self.column_field[rows.indices]
        indices, weights = rows.indices, rows.weights
        if not bool((bag[1:] >= bag[:-1]).all()):
            order = torch.argsort(bag, stable=True)
            bag, indices, weights = bag[order], indices[order], weights[order]
        offsets = torch.searchsorted(bag, torch.arange(rows.n_rows * self.n_fields, device=bag.device))
        out = nn.functional.embedding_bag(indices, self.embedding.weight, offsets, mode="sum",
                                          per_sample_weights=weights)
        return out.view(rows.n_rows, self.n_fields, -1)


class IdAndFeatureEmbedding(nn.Module):
    """LightFM's representation of a user or item: its id embedding plus the feature bag of its attributes.

    Either part can be switched off (`n_entities=0`: features only; `n_features=0`: ids only). Entities unseen in
    training (index -1) get no id part, so they are represented by their attributes alone. With `with_bias` a
    scalar bias is built the same way (id bias + feature biases), for the item popularity term. With `average`
    the sum is divided by the row's total weight (1 for the id plus the absolute feature values), as LightFM's
    normalised feature rows do: the id and the attributes then share one unit of weight, so an entity with many
    attribute values is not dominated by them. `sparse_ids` builds the id tables with sparse gradients, so the
    optimizer updates only a batch's rows (lazy Adam).
    """

    def __init__(self, n_entities: int, n_features: int, dim: int, *, with_bias: bool = False,
                 average: bool = False, init_std: float = 0.01, sparse_ids: bool = False) -> None:
        super().__init__()
        if n_entities < 1 and n_features < 1:
            raise ValueError("IdAndFeatureEmbedding needs id embeddings, attribute features, or both")
        self.ids = nn.Embedding(n_entities, dim, sparse=sparse_ids) if n_entities else None
        self.features = FeatureBag(n_features, dim, init_std) if n_features else None
        self.id_bias = nn.Embedding(n_entities, 1, sparse=sparse_ids) if with_bias and n_entities else None
        self.feature_bias = FeatureBag(n_features, 1, init_std=0.0) if with_bias and n_features else None
        self.with_bias = with_bias
        self.average = average
        self.dim = dim
        if self.ids is not None:
            nn.init.normal_(self.ids.weight, std=init_std)
        if self.id_bias is not None:
            nn.init.zeros_(self.id_bias.weight)

    def forward(self, index: torch.Tensor, rows: SparseRows | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(vectors (n, dim), biases (n,) or None) for entities at training `index` (-1 = unseen) with `rows`."""
        vectors = torch.zeros((len(index), self.dim), device=index.device)
        bias = torch.zeros(len(index), device=index.device) if self.with_bias else None
        if self.ids is not None:
            known = index >= 0
            safe = index.clamp(min=0)
            vectors = vectors + self.ids(safe) * known.unsqueeze(1)
            if self.id_bias is not None:
                bias = bias + self.id_bias(safe).squeeze(1) * known
        if self.features is not None and rows is not None:
            vectors = vectors + self.features(rows)
            if self.feature_bias is not None:
                bias = bias + self.feature_bias(rows).squeeze(1)
        if self.average:
            # an entity with no id and no attribute values has a zero representation either way
            scale = 1.0 / self._total_weight(index, rows).clamp(min=1e-12)
            vectors = vectors * scale.unsqueeze(1)
            bias = bias * scale if bias is not None else None
        return vectors, bias

    def _total_weight(self, index: torch.Tensor, rows: SparseRows | None) -> torch.Tensor:
        """Each entity's weight in the sum: 1 for a known id (when ids are used) plus its absolute attribute values."""
        total = (index >= 0).float() if self.ids is not None else torch.zeros(len(index), device=index.device)
        if self.features is not None and rows is not None:
            total = total.index_add(0, rows.row_of_entry(), rows.weights.abs())
        return total
