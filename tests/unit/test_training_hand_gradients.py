"""Hand-written gradients and the compiled CPU step compute what autograd and torch's optimizers would.

The factorization models train without autograd (engine.training.row_gradients) and, on a CPU, through a compiled
kernel (engine.training.cpu_kernels); the torch path is also their GPU path, so these CPU tests cover it through
the very functions a GPU run calls.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.models.bpr import BPRRecommender
from engine.models.hybrid_mf import HybridMFRecommender, LinearSide
from engine.training import cpu_kernels, feature_modules
from engine.training.feature_modules import training_features, training_table, table_rows
from engine.training.losses import (bpr_loss, bpr_loss_gradient, l2_penalty, sampled_softmax_loss, warp_loss,
                                    warp_loss_gradient)
from engine.training.row_gradients import RowGradients
from engine.training.sampler import NegativeSampler
from tests.unit.gradient_world import planted_split


def _autograd(loss_fn, *inputs: torch.Tensor) -> tuple[float, list[torch.Tensor]]:
    leaves = [t.clone().requires_grad_(True) for t in inputs]
    loss = loss_fn(*leaves)
    loss.backward()
    return float(loss.detach()), [leaf.grad for leaf in leaves]


@pytest.mark.parametrize("n_negatives", [1, 5])
def test_bpr_loss_gradient_is_the_autograd_gradient_of_bpr_loss(n_negatives: int) -> None:
    generator = torch.Generator().manual_seed(0)
    positive, negative = torch.randn(32, generator=generator), torch.randn(32, n_negatives, generator=generator)
    loss, d_positive, d_negative = bpr_loss_gradient(positive, negative)
    expected_loss, (expected_positive, expected_negative) = _autograd(bpr_loss, positive, negative)
    assert loss == pytest.approx(expected_loss, rel=1e-6)
    assert torch.allclose(d_positive, expected_positive, atol=1e-7)
    assert torch.allclose(d_negative, expected_negative, atol=1e-7)


def test_warp_loss_gradient_is_the_autograd_gradient_of_warp_loss() -> None:
    generator = torch.Generator().manual_seed(1)
    positive, negative = torch.randn(64, generator=generator), torch.randn(64, 8, generator=generator)
    loss, d_positive, d_negative = warp_loss_gradient(positive, negative, n_items=500)
    expected_loss, (expected_positive, expected_negative) = _autograd(
        lambda p, n: warp_loss(p, n, 500), positive, negative)
    assert loss == pytest.approx(expected_loss, rel=1e-6)
    assert torch.allclose(d_positive, expected_positive, atol=1e-7)
    assert torch.allclose(d_negative, expected_negative, atol=1e-7)
    assert (d_negative != 0).sum(dim=1).max() == 1  # only the hardest violator is pushed


def _batch(train, n_negatives: int, seed: int = 0, batch_size: int = 64) -> tuple[torch.Tensor, ...]:
    sampler = NegativeSampler(train.matrix, batch_size=batch_size, n_negatives=n_negatives, seed=seed)
    return next(iter(sampler.epoch(1)))


def _fitted_bpr(updates: str) -> BPRRecommender:
    _, train = planted_split("warm")
    return BPRRecommender({"epochs": 1, "n_factors": 8, "embedding_updates": updates}, seed=0).fit(train)


@pytest.mark.parametrize("distinct_items", [False, True])
def test_in_batch_softmax_hand_backward_is_the_autograd_gradient_of_cross_entropy(distinct_items: bool) -> None:
    generator = torch.Generator().manual_seed(0)
    users, items = torch.randn(40, 6, generator=generator), torch.randn(40 if not distinct_items else 15, 6,
                                                                         generator=generator)
    log_q = torch.randn(len(items), generator=generator)
    labels = torch.randint(0, len(items), (40,), generator=generator) if distinct_items else None

    def reference(u: torch.Tensor, i: torch.Tensor) -> torch.Tensor:
        logits = (u / 0.2) @ i.T - log_q
        return torch.nn.functional.cross_entropy(logits, labels if labels is not None else torch.arange(40))

    loss, (d_users, d_items) = _autograd(lambda u, i: sampled_softmax_loss(u, i, 0.2, log_q, labels), users, items)
    expected_loss, (expected_users, expected_items) = _autograd(reference, users, items)
    assert loss == pytest.approx(expected_loss, rel=1e-5)
    assert torch.allclose(d_users, expected_users, atol=1e-6)
    assert torch.allclose(d_items, expected_items, atol=1e-6)


def test_bpr_hand_gradients_equal_autograd_of_the_bpr_objective() -> None:
    _, train = planted_split("warm")
    module = _fitted_bpr("dense").module
    batch = _batch(train, n_negatives=3)
    users, positives, negatives, _ = batch
    l2 = 0.01
    gradients = RowGradients(module)
    loss = module.bpr_gradients(batch, l2, gradients)
    hand = [w.grad.clone() for w in (module.user_factors.weight, module.item_factors.weight, module.item_bias.weight)]

    def objective(user_table, item_table, bias_table):
        p = user_table[users]
        items = torch.cat([positives.unsqueeze(1), negatives], dim=1)
        q = item_table[items]
        scores = torch.einsum("bd,bnd->bn", p, q) + bias_table[items].squeeze(-1)
        return bpr_loss(scores[:, 0], scores[:, 1:]) + l2 * l2_penalty(p, q.flatten(1))

    expected_loss, expected = _autograd(objective, module.user_factors.weight.detach(),
                                        module.item_factors.weight.detach(), module.item_bias.weight.detach())
    assert loss == pytest.approx(expected_loss, rel=1e-5)
    for got, want in zip(hand, expected):
        assert torch.allclose(got, want, atol=1e-6)


@pytest.mark.skipif(not cpu_kernels.available(), reason="numba is not installed: the compiled step is not used")
def test_compiled_bpr_step_takes_the_same_lazy_adam_step_as_the_torch_path() -> None:
    _, train = planted_split("warm")
    compiled, reference = _fitted_bpr("sparse").module, _fitted_bpr("sparse").module
    l2, lr = 0.01, 0.05
    step = cpu_kernels.BPRLazyAdamStep(compiled.user_factors.weight, compiled.item_factors.weight,
                                       compiled.item_bias.weight, l2, cpu_kernels.LazyAdam(lr))
    optimizer = torch.optim.SparseAdam(list(reference.parameters()), lr=lr)
    gradients = RowGradients(reference)
    for seed in range(3):
        batch = _batch(train, n_negatives=2, seed=seed)
        compiled_loss = step(batch)
        optimizer.zero_grad(set_to_none=True)
        with torch.no_grad():
            torch_loss = reference.bpr_gradients(batch, l2, gradients)
        optimizer.step()
        assert compiled_loss == pytest.approx(torch_loss, rel=1e-4)
    # Adam divides by the gradient's own scale: where a row's summed gradient nearly cancels, the two paths'
    # summation orders move its step by a few 1e-4 of lr (here 1.4e-5 on an item bias)
    for got, want in zip(compiled.parameters(), reference.parameters()):
        assert torch.allclose(got, want, atol=5e-5)
    assert not torch.equal(compiled.user_factors.weight, _fitted_bpr("sparse").module.user_factors.weight)


def test_tables_in_huge_pages_start_zeroed_aligned_and_a_moved_weight_keeps_its_values_and_identity() -> None:
    state = cpu_kernels.zeros_in_huge_pages((9000, 3, 64))  # 6.9 MB: past the 2 MB page
    assert state.shape == (9000, 3, 64) and state.dtype == np.float32 and not state.any()
    assert state.ctypes.data % (2 << 20) == 0 and state.flags.writeable
    state[-1, 2, -1] = 1.0
    weight = torch.nn.Parameter(torch.randn(9000, 64))
    before, storage = weight.detach().clone(), weight.data_ptr()
    cpu_kernels.move_to_huge_pages(weight)
    assert torch.equal(weight, before) and weight.data_ptr() != storage and weight.data_ptr() % (2 << 20) == 0
    small = torch.nn.Parameter(torch.randn(10, 4))
    storage = small.data_ptr()
    cpu_kernels.move_to_huge_pages(small)  # a table under one page stays where it is
    assert small.data_ptr() == storage


@pytest.mark.parametrize("loss_name", ["warp", "bpr"])
@pytest.mark.parametrize("average", [True, False])
# 64 x 7 slots cover the catalogue (all items encoded at once), 4 x 7 do not (the batch's distinct items); on a CPU
# with numba the attribute rows are compiled CSR rows, else (the GPU's path, numba off here) the planted attributes
# are narrow (kept dense) unless the dense size limit is 0 (sparse rows)
@pytest.mark.parametrize(("batch_size", "attributes"),
                         [(64, "dense"), (4, "sparse"), (64, "compiled"), (4, "compiled")])
def test_hybrid_hand_gradients_equal_autograd_of_the_module_objective(loss_name: str, average: bool, batch_size: int,
                                                                     attributes: str,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    if attributes == "compiled" and not cpu_kernels.available():
        pytest.skip("numba is not installed: the compiled attribute products are not used")
    if attributes != "compiled":
        monkeypatch.setattr(cpu_kernels, "available", lambda: False)
    if attributes == "sparse":
        monkeypatch.setattr(feature_modules, "DENSE_TABLE_MAX_CELLS", 0)
    _, train = planted_split("cold-item")
    model = HybridMFRecommender({"epochs": 1, "n_factors": 8, "n_negatives": 6, "loss": loss_name,
                                 "average": average, "l2": 0.01}, seed=0).fit(train)
    module = model.module
    for weight in module.parameters():  # biases start at zero: give them values, so their gradient path counts
        weight.data.add_(torch.randn_like(weight) * 0.1)
    users = LinearSide(module.users, training_features(train.user_features, train.user_ids), train.n_users,
                       model.device)
    items = LinearSide(module.items, training_features(train.item_features, train.item_ids), train.n_items,
                       model.device)
    assert (items.csr is not None, items.dense is not None, items.table is not None) == (
        attributes == "compiled", attributes == "dense", attributes == "sparse")
    batch = _batch(train, n_negatives=6, batch_size=batch_size)
    assert (len(batch[0]) * 7 >= train.n_items) == (batch_size == 64)
    gradients = RowGradients(module)
    with torch.no_grad():
        loss = model.batch_gradients(batch, users, items, gradients)
    hand = {name: weight.grad.clone() for name, weight in module.named_parameters()}

    user_table = training_table(train.user_features, train.user_ids, model.device)
    item_table = training_table(train.item_features, train.item_ids, model.device)
    module.zero_grad(set_to_none=True)
    user_index, positives, negatives, _ = batch
    slots = torch.cat([positives.unsqueeze(1), negatives], dim=1)
    u, _ = module.users(user_index, table_rows(user_table, user_index))
    v, c = module.items(slots.reshape(-1), table_rows(item_table, slots.reshape(-1)))
    q, c = v.view(*slots.shape, -1), c.view(slots.shape)
    scores = torch.einsum("bd,bnd->bn", u, q) + c
    base = warp_loss(scores[:, 0], scores[:, 1:], train.n_items) if loss_name == "warp" else \
        bpr_loss(scores[:, 0], scores[:, 1:])
    expected = base + 0.01 * l2_penalty(u, q[:, 0])
    expected.backward()
    assert loss == pytest.approx(float(expected), rel=1e-5)
    for name, weight in module.named_parameters():  # the id tables' gradients are sparse rows on both sides
        assert torch.allclose(hand[name].to_dense(), weight.grad.to_dense(), atol=1e-6), name
    # only the item rows with a gradient go to the optimizer (WARP: a positive and its hardest violator per row,
    # not every sampled negative), so lazy Adam moves no other row
    handed = torch.unique(hand["items.ids.weight"].coalesce().indices()[0])
    with_gradient = torch.nonzero((module.items.ids.weight.grad.to_dense() != 0).any(dim=1)).squeeze(1)
    assert torch.equal(handed, with_gradient)
    if loss_name == "warp":
        assert len(handed) < len(torch.unique(slots))


def test_row_gradients_give_untouched_dense_weights_a_zero_gradient_and_sparse_ones_sparse_rows() -> None:
    module = torch.nn.ModuleDict({"dense": torch.nn.Embedding(5, 2), "sparse": torch.nn.Embedding(4, 2, sparse=True)})
    gradients = RowGradients(module)
    gradients.add(module["sparse"].weight, torch.tensor([1, 1, 3]), torch.ones(3, 2))
    gradients.finish()
    assert torch.equal(module["dense"].weight.grad, torch.zeros(5, 2))
    sparse = module["sparse"].weight.grad
    assert sparse.is_sparse
    assert torch.equal(sparse.to_dense(), torch.tensor([[0.0, 0.0], [2.0, 2.0], [0.0, 0.0], [1.0, 1.0]]))
    np.testing.assert_array_equal(sparse.coalesce().indices().numpy(), [[1, 3]])


@pytest.mark.skipif(not cpu_kernels.available(), reason="numba is not installed: torch.unique is used")
def test_compiled_unique_below_is_torch_unique_with_its_inverse() -> None:
    values = torch.tensor([[5, 0, 9, 5], [9, 9, 2, 0]])  # the range's both ends, repeats within and across rows
    distinct, inverse = cpu_kernels.unique_below(values, 10)
    expected_distinct, expected_inverse = torch.unique(values, return_inverse=True)
    assert torch.equal(distinct, expected_distinct) and torch.equal(inverse, expected_inverse)
    assert torch.equal(distinct[inverse], values)
