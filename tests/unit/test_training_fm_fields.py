"""DeepFM's hand-written field terms (engine.training.fm_fields) take autograd's values and gradients: the field
sum, the own first + second order term and the first layer's half of users and items with attributes, with
blank ids (-1) among them, and of a side without attributes."""

from __future__ import annotations

import pytest
import torch

from engine.models.deepfm import DeepFMConfig, DeepFMNetwork, DeepFMRecommender, FieldSide, fm_self
from engine.training.feature_modules import table_rows, training_table
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


@pytest.mark.parametrize("with_features", [True, False])
@pytest.mark.parametrize("name", ["users", "items"])
def test_field_terms_take_autograds_values_and_gradients(with_features: bool, name: str) -> None:
    network, tables = _network(with_features)
    side = getattr(network, name)
    deep_in = network.deep.user_in if name == "users" else network.deep.item_in
    index = torch.tensor([4, 0, 9, 2, 7, 5])
    rows = table_rows(tables[name], index)
    index = torch.where(torch.arange(6) % 3 == 1, -1, index)  # blank ids: attributes only
    terms, gradients = _terms(side, deep_in, index, rows, by_hand=True)
    expected_terms, expected = _terms(side, deep_in, index, rows, by_hand=False)
    for got, want in zip(terms, expected_terms, strict=True):
        assert torch.allclose(got, want, atol=1e-6)
    assert gradients.keys() == expected.keys()
    # the id tables, the attribute tables when present, the layer's weight and (user side) its bias
    assert len(gradients) == (4 if with_features else 2) + (2 if name == "users" else 1)
    for key, gradient in gradients.items():
        assert torch.allclose(gradient, expected[key], atol=1e-5), key
        assert bool(gradient.abs().sum() > 0), key


def test_wide_or_unordered_attribute_tables_go_through_autograd() -> None:
    network, tables = _network(True)
    side = network.items
    side.fields.column_field.copy_(side.fields.column_field.flip(0))  # fields no longer in column order
    assert side.fields.dense_field_sizes() is None
    index = torch.tensor([1, 3])
    fields, first = side(index, table_rows(tables["items"], index))
    sums, own, half = side.terms(index, table_rows(tables["items"], index), network.deep.item_in)
    assert torch.allclose(own, first + fm_self(fields)) and half.grad_fn is not None
