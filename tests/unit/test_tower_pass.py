"""The two-tower's hand-written passes compute what autograd computes: the tower (ids + attributes -> MLP -> unit
vectors) for every form of attribute rows a device uses, and the in-batch softmax over distinct users.

Dense and sparse torch rows are the GPU's path and compiled rows the CPU's with numba; all three run here through
the very functions a fit calls.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from torch.nn import functional as F

from engine.training import cpu_kernels
from engine.training.feature_modules import SparseRows, attribute_rows, dense_rows
from engine.training.losses import sampled_softmax_loss
from engine.training.tower_pass import TowerWeights, tower_vectors

N_IDS, N_FEATURES, DIM, WIDTH = 30, 12, 6, 10


def _weights(sparse_ids: bool, with_attributes: bool = True) -> TowerWeights:
    generator = torch.Generator().manual_seed(0)

    def weight(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=generator).requires_grad_(True)

    inputs = DIM * (2 if with_attributes else 1)
    return TowerWeights(weight(N_IDS, DIM), sparse_ids, weight(N_FEATURES, DIM) if with_attributes else None,
                        weight(WIDTH, inputs), weight(WIDTH), weight(DIM, WIDTH), weight(DIM))


def _attribute_rows() -> SparseRows:
    matrix = sp.random(N_IDS, N_FEATURES, density=0.3, format="csr", random_state=1, dtype=np.float32)
    return SparseRows.from_csr(matrix)


def _reference(weights: TowerWeights, index: torch.Tensor, rows: torch.Tensor | None,
               mask: torch.Tensor | None) -> torch.Tensor:
    """The tower as autograd sees it: concat(id row or zeros, rows @ E) -> Linear -> ReLU -> mask -> Linear -> L2."""
    parts = [weights.ids[index.clamp(min=0)] * (index >= 0).unsqueeze(1)]
    if rows is not None:
        parts.append(rows @ weights.attributes)
    hidden = F.relu(F.linear(torch.cat(parts, dim=1), weights.hidden_weight, weights.hidden_bias))
    if mask is not None:
        hidden = hidden * mask
    return F.normalize(F.linear(hidden, weights.out_weight, weights.out_bias), dim=-1)


def _gradients(weights: TowerWeights, vectors: torch.Tensor, direction: torch.Tensor) -> list[torch.Tensor]:
    tensors = [t for t in (weights.ids, weights.attributes, weights.hidden_weight, weights.hidden_bias,
                           weights.out_weight, weights.out_bias) if t is not None]
    for tensor in tensors:
        tensor.grad = None
    (vectors * direction).sum().backward()
    return [t.grad for t in tensors]


FORMS = ["dense", "sparse", *(["compiled"] if cpu_kernels.available() else [])]


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("sparse_ids", [True, False])
def test_tower_pass_is_the_autograd_tower(form: str, sparse_ids: bool) -> None:
    weights = _weights(sparse_ids)
    all_rows = _attribute_rows()
    index = torch.tensor([3, 17, 0, 29, 8, 11])
    blanked = torch.tensor([3, -1, 0, 29, -1, 11])  # ids dropped out: attributes only
    dense = dense_rows(all_rows.select(index), N_FEATURES, torch.float32)
    batch_rows = dense if form == "dense" else all_rows.select(index) if form == "sparse" else \
        attribute_rows(all_rows, N_FEATURES, index)
    mask = (torch.rand(len(index), WIDTH, generator=torch.Generator().manual_seed(2)) > 0.3).float() / 0.7
    direction = torch.randn(len(index), DIM, generator=torch.Generator().manual_seed(3))

    vectors = tower_vectors(weights, blanked, batch_rows, mask)
    hand = _gradients(weights, vectors, direction)
    expected_vectors = _reference(weights, blanked, dense, mask)
    expected = _gradients(weights, expected_vectors, direction)

    assert torch.allclose(vectors, expected_vectors, atol=1e-5)
    assert torch.allclose(vectors.norm(dim=1), torch.ones(len(index)), atol=1e-5)
    for got, want in zip(hand, expected):
        assert torch.allclose(got.to_dense(), want, atol=1e-5)
    assert hand[0].is_sparse == sparse_ids
    # a dropped-out id's row gets no gradient (lazy Adam leaves it alone), unlike a row of the batch
    touched = hand[0].coalesce().indices()[0] if sparse_ids else hand[0].abs().sum(dim=1).nonzero().squeeze(1)
    assert sorted(touched.tolist()) == [0, 3, 11, 29]


def test_tower_pass_without_attributes_or_dropout_is_the_autograd_tower() -> None:
    weights = _weights(sparse_ids=True, with_attributes=False)
    index = torch.tensor([5, -1, 2, 9])
    direction = torch.randn(len(index), DIM, generator=torch.Generator().manual_seed(4))
    vectors = tower_vectors(weights, index, None, None)
    hand = _gradients(weights, vectors, direction)
    expected_vectors = _reference(weights, index, None, None)
    assert torch.allclose(vectors, expected_vectors, atol=1e-5)
    for got, want in zip(hand, _gradients(weights, expected_vectors, direction)):
        assert torch.allclose(got.to_dense(), want, atol=1e-5)


def _softmax_reference(users: torch.Tensor, items: torch.Tensor, temperature: float, log_q: torch.Tensor,
                       labels: torch.Tensor, slots: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy((users[slots] / temperature) @ items.T - log_q, labels)


@pytest.mark.parametrize("compiled", [True, False] if cpu_kernels.available() else [False],
                         ids=lambda compiled: "compiled exp" if compiled else "torch exp")
@pytest.mark.parametrize("temperature", [0.2, 0.002])
def test_in_batch_softmax_over_distinct_users_is_the_softmax_of_the_batch_rows(
        temperature: float, compiled: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each batch row's user is a slot among the distinct users (repeats included); at temperature 0.002 most
    positives' probabilities underflow in float32, and the loss still comes out exact (from the log of the row
    sums, not of the probability)."""
    if not compiled:
        monkeypatch.setattr(cpu_kernels, "available", lambda: False)
    generator = torch.Generator().manual_seed(5)
    users, items = torch.randn(7, 6, generator=generator), torch.randn(9, 6, generator=generator)
    log_q = torch.randn(9, generator=generator)
    slots = torch.tensor([0, 3, 3, 6, 1, 3, 2, 5, 4, 0, 6, 6])
    labels = torch.tensor([1, 0, 0, 8, 2, 4, 7, 5, 3, 3, 6, 1])  # user 3 twice with item 0: two one-hots
    leaves = [users.clone().requires_grad_(True), items.clone().requires_grad_(True)]
    loss = sampled_softmax_loss(*leaves, temperature, log_q, labels, slots)
    loss.backward()
    references = [users.clone().requires_grad_(True), items.clone().requires_grad_(True)]
    expected = _softmax_reference(*references, temperature, log_q, labels, slots)
    expected.backward()
    assert torch.isfinite(loss)
    positives = torch.softmax((users[slots] / temperature) @ items.T - log_q, dim=1)[torch.arange(12), labels]
    assert bool((positives < 1e-30).any()) == (temperature < 0.01)
    assert float(loss.detach()) == pytest.approx(float(expected.detach()), rel=1e-5)
    for got, want in zip(leaves, references):
        assert torch.allclose(got.grad, want.grad, atol=1e-5 * max(1.0, 0.2 / temperature))


@pytest.mark.skipif(not cpu_kernels.available(), reason="numba is not installed: torch's exp is used")
def test_compiled_shifted_exponentials_match_float64_exp() -> None:
    block = torch.randn(50, 333, generator=torch.Generator().manual_seed(6)) * 30
    block[0, :5] = torch.tensor([-1e4, -87.5, -86.9, 0.0, -1e-8])  # underflow, the floor, and the top
    tops = block.amax(dim=1)
    # the float32 shift is the caller's rounding (and torch's): the exponential of it is what is compared
    shifted = block - tops.unsqueeze(1)
    expected = torch.exp(shifted.double()).masked_fill_(shifted <= -87, 0)  # e^-87 and below: flushed to zero
    totals = cpu_kernels.shifted_exp_rows(block, tops)
    assert torch.allclose(block.double(), expected, rtol=2e-7, atol=0)
    assert torch.allclose(totals.double(), expected.sum(dim=1), rtol=1e-6)


def test_tower_and_softmax_run_in_float32_under_mixed_precision() -> None:
    """A GPU fit runs its batch loss under autocast (engine.training.device.MixedPrecision); CPU autocast to
    bfloat16 stands in for it here: the passes keep float32 and give the gradients they give without it."""
    weights = _weights(sparse_ids=True)
    index = torch.tensor([3, 17, -1, 29])
    rows = dense_rows(_attribute_rows().select(index.clamp(min=0)), N_FEATURES, torch.float32)
    slots, labels = torch.tensor([0, 1, 1, 2, 3]), torch.tensor([0, 2, 1, 3, 0])
    items = torch.randn(4, DIM, generator=torch.Generator().manual_seed(7))
    log_q = torch.randn(4, generator=torch.Generator().manual_seed(8))

    def step(mixed: bool) -> tuple[torch.Tensor, list[torch.Tensor]]:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=mixed):
            loss = sampled_softmax_loss(tower_vectors(weights, index, rows, None), items, 0.2, log_q, labels, slots)
        tensors = [weights.ids, weights.attributes, weights.hidden_weight, weights.out_weight]
        for tensor in tensors:
            tensor.grad = None
        loss.backward()
        return loss.detach(), [t.grad.to_dense() for t in tensors]

    mixed_loss, mixed = step(True)
    plain_loss, plain = step(False)
    assert mixed_loss.dtype == torch.float32
    assert torch.allclose(mixed_loss, plain_loss)
    for got, want in zip(mixed, plain):
        assert torch.allclose(got, want)
