"""DeepFM's hand-written field terms (engine.training.fm_fields) take autograd's values and gradients: the field
sum, the own first + second order term and the first layer's half of users and items with attributes, with
blank ids (-1) among them, and of a side without attributes; through the compiled CSR loops and through their
torch twins (the GPU path: dense and sparse rows), all run here on the CPU, whatever the table's width or the
order of its fields."""

from __future__ import annotations

import pytest
import torch

from engine.models.deepfm import DeepFMConfig, DeepFMNetwork, DeepFMRecommender, FieldSide, fm_self
from engine.training import cpu_kernels
from engine.training.feature_modules import (Attributes, CompiledRows, FeatureTable, dense_rows, table_rows,
                                             training_table)

ROW_FORMS = ["compiled", "dense", "sparse"]


def _rows(table: FeatureTable | None, index: torch.Tensor, form: str) -> Attributes | None:
    """The entities' attribute rows as the compiled loops (CSR arrays, nothing gathered) or the torch twin (dense or
    sparse gathered rows) take them."""
    if table is None:
        return None
    if form == "compiled":
        if not cpu_kernels.available():
            pytest.skip("numba is not installed: only the torch twin runs")
        rows = table.all_rows
        return CompiledRows(rows.offsets.numpy(), rows.indices.numpy(), rows.weights.numpy(), index.numpy(),
                            table.n_features)
    rows = table.rows(index)
    return dense_rows(rows, table.n_features, torch.float32) if form == "dense" else rows
from tests.unit.gradient_world import planted_split


def _network(with_features: bool) -> tuple[DeepFMNetwork, dict]:
    _, train = planted_split("warm")
    model = DeepFMRecommender({"n_factors": 4, "mlp_layers": [6]}, seed=0)
    sizes = model.module_sizes(train)
    if not with_features:
        sizes = {**sizes, "n_user_features": 0, "n_user_fields": 0, "n_item_features": 0, "n_item_fields": 0}
    torch.manual_seed(0)
    network = DeepFMNetwork(sizes, DeepFMConfig(n_factors=4, mlp_layers=[6]))
    tables = {}
    for name, side, features, ids in (("users", network.users, train.user_features, train.user_ids),
                                      ("items", network.items, train.item_features, train.item_ids)):
        if side.fields is not None:
            side.fields.column_field.copy_(torch.as_tensor(features.column_field, dtype=torch.int64))
        tables[name] = training_table(features, ids, torch.device("cpu"), use=side.fields is not None)
    with torch.no_grad():  # away from the zero initialisation of the first-order weights
        for parameter in network.parameters():
            parameter.add_(torch.randn(parameter.shape) * 0.3)
    return network, tables


def _terms(side: FieldSide, deep_in: torch.nn.Linear, index: torch.Tensor, rows, by_hand: bool):
    side.zero_grad(set_to_none=True)
    deep_in.zero_grad(set_to_none=True)
    if by_hand:
        terms = side.terms(index, rows, deep_in)
    else:
        fields, first = side(index, rows)
        terms = fields.sum(dim=-2), first + fm_self(fields), deep_in(fields.flatten(-2))
    generator = torch.Generator().manual_seed(3)
    torch.autograd.backward(terms, [torch.randn(t.shape, generator=generator) for t in terms])
    named = [*side.named_parameters(), *((f"deep_in.{n}", p) for n, p in deep_in.named_parameters())]
    gradients = {name: p.grad.to_dense() for name, p in named if p.grad is not None}
    return [t.detach() for t in terms], gradients


@pytest.mark.parametrize("form", ROW_FORMS)
@pytest.mark.parametrize("with_features", [True, False])
@pytest.mark.parametrize("name", ["users", "items"])
def test_field_terms_take_autograds_values_and_gradients(with_features: bool, name: str, form: str) -> None:
    network, tables = _network(with_features)
    side = getattr(network, name)
    deep_in = network.deep.user_in if name == "users" else network.deep.item_in
    index = torch.tensor([4, 0, 9, 2, 7, 5, 4])
    reference = table_rows(tables[name], index)
    rows = _rows(tables[name], index, form)
    index = torch.where(torch.arange(7) % 3 == 1, -1, index)  # blank ids: attributes only
    terms, gradients = _terms(side, deep_in, index, rows, by_hand=True)
    expected_terms, expected = _terms(side, deep_in, index, reference, by_hand=False)
    for got, want in zip(terms, expected_terms, strict=True):
        assert torch.allclose(got, want, atol=1e-6)
    assert gradients.keys() == expected.keys()
    # the id tables, the attribute tables when present, the layer's weight and (user side) its bias
    assert len(gradients) == (4 if with_features else 2) + (2 if name == "users" else 1)
    for key, gradient in gradients.items():
        assert torch.allclose(gradient, expected[key], atol=1e-5), key
        assert bool(gradient.abs().sum() > 0), key


@pytest.mark.parametrize("form", ROW_FORMS)
def test_fields_out_of_column_order_take_autograds_values_and_gradients(form: str) -> None:
    network, tables = _network(True)
    side = network.items
    side.fields.column_field.copy_(side.fields.column_field.flip(0))  # fields no longer in column order
    assert side.fields.dense_field_sizes() is None
    index = torch.tensor([1, 3, 1])
    terms, gradients = _terms(side, network.deep.item_in, index, _rows(tables["items"], index, form), by_hand=True)
    expected_terms, expected = _terms(side, network.deep.item_in, index, table_rows(tables["items"], index),
                                      by_hand=False)
    for got, want in zip(terms, expected_terms, strict=True):
        assert torch.allclose(got, want, atol=1e-6)
    for key, gradient in gradients.items():
        assert torch.allclose(gradient, expected[key], atol=1e-5), key


@pytest.mark.parametrize("name", ["users", "items"])
def test_terms_without_blanks_are_the_masked_ones(name: str) -> None:
    # training without id dropout skips the blank-id mask: same terms, same gradients, when no id is -1
    network, tables = _network(True)
    side = getattr(network, name)
    deep_in = network.deep.user_in if name == "users" else network.deep.item_in
    index = torch.tensor([4, 0, 9, 2, 7, 5])
    results = []
    for blanks in (True, False):
        side.zero_grad(set_to_none=True)
        deep_in.zero_grad(set_to_none=True)
        terms = side.terms(index, _rows(tables[name], index, "compiled"), deep_in, blanks)
        torch.autograd.backward(terms, [torch.ones_like(t) for t in terms])
        results.append(([t.detach() for t in terms], {n: p.grad.to_dense() for n, p in side.named_parameters()
                                                       if p.grad is not None}))
    (masked, masked_gradients), (plain, plain_gradients) = results
    assert all(torch.equal(a, b) for a, b in zip(masked, plain, strict=True))
    assert masked_gradients.keys() == plain_gradients.keys()
    assert all(torch.allclose(masked_gradients[n], plain_gradients[n]) for n in masked_gradients)
