"""The shared feature encoder agrees with the dense algebra it stands for."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from torch import nn

from engine.training import cpu_kernels, feature_modules
from engine.training.feature_modules import (CompiledRows, FeatureBag, FeatureTable, FieldEmbeddings,
                                             IdAndFeatureEmbedding, SparseRows, rows_product, rows_transposed_product)


def _features() -> sp.csr_matrix:
    # 4 rows over 5 columns; row 2 has no features at all
    dense = np.array([[1, 0, 0.5, 0.5, 0], [0, 1, 0, 0, -1.2], [0, 0, 0, 0, 0], [1, 0, 0, 1, 0.3]], dtype=np.float32)
    return sp.csr_matrix(dense)


# a narrow table multiplies dense rows, a wide one runs EmbeddingBag: both must be the same sum, forward and back
PATHS = pytest.mark.parametrize("dense_rows_max", [feature_modules.DENSE_ROWS_MAX_FEATURES, 0],
                                ids=["dense rows", "embedding bag"])


def _table_gradient(module: nn.Module, out: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    module.zero_grad()
    out.backward(torch.arange(out.numel(), dtype=torch.float32).reshape(out.shape))
    return weight.grad.clone()


@PATHS
def test_feature_bag_is_the_value_weighted_sum_of_column_embeddings(dense_rows_max: int,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(feature_modules, "DENSE_ROWS_MAX_FEATURES", dense_rows_max)
    matrix = _features()
    bag = FeatureBag(5, 3)
    out = bag(SparseRows.from_csr(matrix))
    weight = bag.bag.weight
    expected = torch.from_numpy(matrix.toarray()) @ weight
    assert torch.allclose(out, expected, atol=1e-6)
    assert torch.equal(out[2], torch.zeros(3))
    assert torch.allclose(_table_gradient(bag, out, weight),
                          _table_gradient(bag, expected, weight), atol=1e-5)


def test_feature_table_gathers_the_same_rows_as_scipy_slicing() -> None:
    matrix = _features()
    table = FeatureTable(matrix)
    index = torch.tensor([3, 2, 0, 3])
    gathered = table.rows(index)
    rebuilt = sp.csr_matrix((gathered.weights.numpy(), gathered.indices.numpy(), gathered.offsets.numpy()),
                            shape=(4, 5))
    assert np.array_equal(rebuilt.toarray(), matrix[index.numpy()].toarray())


@pytest.mark.parametrize("form", ["compiled", "dense table", "gathered dense", "sparse"])
def test_a_tables_attribute_rows_in_every_form_give_the_bags_products(form: str,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """`FeatureTable.attributes` hands compiled rows on a CPU with numba, else a dense table's rows, gathered dense
    rows or sparse ones: `rows_product` and its transpose are the bag's sum and its table gradient in each."""
    if form == "compiled" and not cpu_kernels.available():
        pytest.skip("numba is not installed: compiled rows are not used")
    if form != "compiled":
        monkeypatch.setattr(cpu_kernels, "available", lambda: False)
    monkeypatch.setattr(feature_modules, "DENSE_TABLE_MAX_CELLS", 0 if form in ("gathered dense", "sparse") else
                        feature_modules.DENSE_TABLE_MAX_CELLS)
    monkeypatch.setattr(feature_modules, "DENSE_ROWS_MAX_FEATURES", 0 if form == "sparse" else
                        feature_modules.DENSE_ROWS_MAX_FEATURES)
    table = FeatureTable(_features())
    index = torch.tensor([3, 2, 0, 3])
    rows = table.attributes(index)
    kind = {"compiled": CompiledRows, "sparse": SparseRows}.get(form, torch.Tensor)
    assert isinstance(rows, kind)
    bag = FeatureBag(5, 3)
    weight = bag.bag.weight
    expected = bag(table.rows(index))
    assert torch.allclose(rows_product(rows, weight.detach()), expected, atol=1e-6)
    direction = torch.arange(expected.numel(), dtype=torch.float32).reshape(expected.shape)
    assert torch.allclose(rows_transposed_product(rows, direction, 5), _table_gradient(bag, expected, weight),
                          atol=1e-5)


@PATHS
@pytest.mark.parametrize("column_field", [[0, 0, 1, 1, 2], [2, 0, 1, 0, 1], [0, 0, 2, 2, 2]],
                         ids=["in column order", "interleaved", "a field without columns"])
def test_field_embeddings_sum_each_field_separately(column_field: list[int], dense_rows_max: int,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(feature_modules, "DENSE_ROWS_MAX_FEATURES", dense_rows_max)
    matrix = _features()
    column_field = np.array(column_field)
    fields = FieldEmbeddings(column_field, n_fields=3, dim=2)
    out = fields(SparseRows.from_csr(matrix))
    dense = torch.from_numpy(matrix.toarray())
    weight = fields.embedding.weight
    expected = torch.stack([dense[:, columns] @ weight[columns] for columns in
                            (torch.from_numpy(np.flatnonzero(column_field == field)) for field in range(3))], dim=1)
    assert torch.allclose(out, expected, atol=1e-6)
    assert torch.allclose(_table_gradient(fields, out, weight), _table_gradient(fields, expected, weight), atol=1e-5)


def test_averaged_id_and_feature_embedding_divides_by_the_id_plus_absolute_feature_weights() -> None:
    matrix = _features()
    encoder = IdAndFeatureEmbedding(4, 5, 3, with_bias=True, average=True)
    nn.init.normal_(encoder.id_bias.weight)
    nn.init.normal_(encoder.feature_bias.bag.weight)
    index = torch.tensor([0, 1, 2, -1])  # the last entity is new: attributes only
    vectors, bias = encoder(index, SparseRows.from_csr(matrix))
    dense = torch.from_numpy(matrix.toarray())
    known = (index >= 0).float()
    ids = encoder.ids(index.clamp(min=0)) * known[:, None]
    total = known + dense.abs().sum(dim=1)  # rows: 2, 3.2, 1 (id only), 2.3 (no id)
    assert torch.allclose(vectors, (ids + dense @ encoder.features.bag.weight) / total[:, None], atol=1e-6)
    id_bias = encoder.id_bias(index.clamp(min=0)).squeeze(1) * known
    assert torch.allclose(bias, (id_bias + dense @ encoder.feature_bias.bag.weight.squeeze(1)) / total, atol=1e-6)
