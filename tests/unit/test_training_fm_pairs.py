"""DeepFM's hand-written pair loss (engine.training.fm_pairs) takes autograd's loss and gradients over the same
pairs, dropout masks included (hashed per unit from a seed, the same on both paths), and its logits are the scoring
path's: through the compiled CPU loops and through their torch twins (the GPU path), both run here on the CPU."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from engine.models.deepfm import DeepFMConfig, DeepFMNetwork
from engine.training import fm_pairs
from engine.training.dropout import Dropout

SIZES = {"n_users": 7, "n_items": 11, "n_user_features": 0, "n_user_fields": 0, "n_item_features": 0,
         "n_item_fields": 0}


@pytest.fixture(params=["compiled", "torch"])
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Runs a test through the compiled loops and again through the torch operations."""
    if request.param == "compiled" and fm_pairs.numba is None:
        pytest.skip("numba is not installed: only the torch path runs")
    if request.param == "torch":
        monkeypatch.setattr(fm_pairs, "numba", None)
    return request.param


def _network(layers: list[int], dropout: float) -> DeepFMNetwork:
    torch.manual_seed(0)
    network = DeepFMNetwork(SIZES, DeepFMConfig(n_factors=4, mlp_layers=layers, dropout=dropout))
    with torch.no_grad():  # away from the zero initialisation of the first-order weights and the bias
        for parameter in network.parameters():
            parameter.add_(torch.randn(parameter.shape) * 0.3)
    return network


def _batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Distinct users and items of a batch of 5 users x (positive + 3 negatives), with repeats, and their slots."""
    generator = torch.Generator().manual_seed(1)
    users = torch.tensor([3, 0, 3, 6, 2])
    items = torch.randint(0, SIZES["n_items"], (5, 4), generator=generator)
    distinct_users, user_slot = torch.unique(users, return_inverse=True)
    distinct_items, item_slot = torch.unique(items, return_inverse=True)
    return distinct_users, user_slot, distinct_items, item_slot


def _reset_masks(network: nn.Module) -> None:
    torch.manual_seed(5)
    for module in network.modules():
        if isinstance(module, Dropout):
            module._generator = None


def _reference_mlp(network: DeepFMNetwork, user_half: torch.Tensor, item_half: torch.Tensor) -> torch.Tensor:
    """The deep component over aligned pairs under autograd, dropping the units `dropped_units` gives for the seeds
    each layer's Dropout draws (in `pair_loss`'s order)."""
    linears, dropouts = network.deep.hidden_layers()
    seeds = [dropout.draw_seed() for dropout in dropouts]
    x = torch.relu(user_half + item_half)
    for index, (dropout, seed) in enumerate(zip(dropouts, seeds)):
        if index:
            x = torch.relu(linears[index - 1](x))
        if seed is not None:
            dropped = fm_pairs.dropped_units(seed, x.shape[:-1].numel(), x.shape[-1], dropout.drop_below, x.device)
            x = x * (~dropped).view(x.shape) * dropout.scale
    return network.deep_out(x)


def _loss(network: DeepFMNetwork, by_hand: bool) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The batch loss and every weight's gradient, by `pair_loss` or by autograd over gathered pairs."""
    network.zero_grad(set_to_none=True)
    _reset_masks(network)
    distinct_users, user_slot, distinct_items, item_slot = _batch()
    user = network.user_terms(distinct_users, None)
    item = network.item_terms(distinct_items, None)
    if by_hand:
        loss = network.pair_loss(user, item, user_slot, item_slot)
    else:
        (user_sum, user_own, user_half), (item_sum, item_own, item_half) = user, item
        deep = _reference_mlp(network, user_half[user_slot].unsqueeze(1), item_half[item_slot])
        logits = (network.global_bias + user_own[user_slot].unsqueeze(1) + item_own[item_slot]
                  + (user_sum[user_slot].unsqueeze(1) * item_sum[item_slot]).sum(dim=-1) + deep.squeeze(-1))
        labels = torch.zeros_like(logits)
        labels[:, 0] = 1.0
        loss = nn.functional.binary_cross_entropy_with_logits(logits, labels)
    loss.backward()
    return loss.detach(), {name: p.grad.to_dense() for name, p in network.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("layers", [[8], [8, 5, 3]])
@pytest.mark.parametrize("dropout", [0.0, 0.4])
def test_pair_loss_takes_autograds_loss_and_gradients(layers: list[int], dropout: float, path: str) -> None:
    network = _network(layers, dropout)
    loss, gradients = _loss(network, by_hand=True)
    expected_loss, expected = _loss(network, by_hand=False)
    assert float(loss) == pytest.approx(float(expected_loss), rel=1e-6)
    assert gradients.keys() == expected.keys() == {name for name, _ in network.named_parameters()}
    for name, gradient in gradients.items():
        assert torch.allclose(gradient, expected[name], atol=1e-6), name
        assert bool(gradient.abs().sum() > 0), name  # every weight takes part


def test_dropped_units_are_the_compiled_loops_and_drop_about_p() -> None:
    dropout = Dropout(0.3)
    _reset_masks(dropout)
    seed = dropout.draw_seed()
    dropped = fm_pairs.dropped_units(seed, 400, 30, dropout.drop_below, torch.device("cpu"))
    assert 0.28 < float(dropped.float().mean()) < 0.32
    assert not torch.equal(dropped[:200], dropped[200:])  # rows differ
    pre = torch.rand(400, 30) + 0.5  # all positive: a zero is a dropped unit
    if fm_pairs.numba is not None:
        assert torch.equal(fm_pairs._relu_drop(pre.clone(), seed, dropout.drop_below) == 0, dropped)
        # the first layer's pass hashes its own masks: 400 pairs of 80 users x 5 items, a width of 30 (not whole words)
        user_slot, item_slot = torch.arange(80), torch.arange(400).view(80, 5)
        hidden = fm_pairs._first_layer(pre[:80], pre, user_slot, item_slot, seed, dropout.drop_below)
        assert torch.equal(hidden == 0, dropped)
    assert dropout.draw_seed() != seed
    assert dropout.eval().draw_seed() is None and Dropout(0.0).draw_seed() is None


def test_pair_logits_in_eval_mode_are_the_scoring_paths(path: str) -> None:
    network = _network([8, 5], 0.4).eval()
    distinct_users, user_slot, distinct_items, item_slot = _batch()
    with torch.no_grad():
        user, item = network.user_terms(distinct_users, None), network.item_terms(distinct_items, None)
        scored = network.logits(user, item)[user_slot.unsqueeze(1), item_slot]
        labels = torch.zeros_like(scored)
        labels[:, 0] = 1.0
        expected = nn.functional.binary_cross_entropy_with_logits(scored, labels)
        assert float(network.pair_loss(user, item, user_slot, item_slot)) == pytest.approx(float(expected), rel=1e-6)


def test_first_layer_gradient_reaches_every_distinct_row_and_zeroes_unnamed_ones(path: str) -> None:
    # the compiled pass writes each row at its first pair and zeroes rows no pair names (it starts from no zeroing)
    generator = torch.Generator().manual_seed(2)
    user_slot, item_slot = torch.tensor([0, 2, 0]), torch.tensor([[1, 3], [1, 0], [4, 1]])
    hidden = torch.relu(torch.randn(6, 5, generator=generator))
    d_hidden = torch.randn(6, 5, generator=generator)
    d_user, d_item = fm_pairs._first_backward(d_hidden, hidden, user_slot, item_slot, 4, 6)
    through = d_hidden * (hidden > 0)
    assert torch.allclose(d_user, torch.zeros(4, 5).index_add_(0, user_slot, through.view(3, 2, 5).sum(dim=1)))
    assert torch.allclose(d_item, torch.zeros(6, 5).index_add_(0, item_slot.reshape(-1), through))
    assert bool((d_user[[1, 3]] == 0).all()) and bool((d_item[[2, 5]] == 0).all())
