"""PairMLP's fused ReLU and dropout (`relu_dropout`) take the same forward and backward as the layers it replaces."""

from __future__ import annotations

import pytest
import torch

from engine.training.dropout import Dropout
from engine.training.pair_mlp import PairMLP


def _halves(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    user = torch.randn(6, 1, 8, generator=generator, requires_grad=True)
    item = torch.randn(6, 3, 8, generator=generator, requires_grad=True)
    return user, item


def _run(mlp: PairMLP, fused: bool) -> tuple[torch.Tensor, ...]:
    """Output and gradients of the MLP over fixed halves, the dropout masks drawn from a reset generator."""
    torch.manual_seed(0)
    for module in mlp.modules():
        if isinstance(module, Dropout):
            module._generator = None
    user, item = _halves(1)
    out = mlp.combine(user, item) if fused else mlp.rest(user + item)
    out.backward(torch.randn(out.shape, generator=torch.Generator().manual_seed(2)))
    return out.detach(), user.grad, item.grad, *(p.grad for p in mlp.parameters() if p.grad is not None)


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_fused_relu_dropout_takes_the_layers_forward_and_backward(dropout: float) -> None:
    mlp = PairMLP(8, 8, [8, 5, 4], dropout)
    fused = _run(mlp, fused=True)
    mlp.zero_grad(set_to_none=True)
    reference = _run(mlp, fused=False)
    assert len(fused) == len(reference) == 7  # output, both halves, the two further layers' weights and biases
    for got, want in zip(fused, reference, strict=True):
        assert torch.allclose(got, want, atol=1e-6)
    if dropout:
        assert bool((fused[0] == 0).float().mean() > 0.3)  # some units dropped, as many as ReLU and p make


def test_fused_path_without_gradients_gives_the_same_output() -> None:
    mlp = PairMLP(8, 8, [8, 4], 0.3).eval()
    user, item = _halves(3)
    with torch.no_grad():
        assert torch.allclose(mlp.combine(user, item), mlp.rest(user + item))


def test_torch_mask_for_other_devices_keeps_one_minus_p_at_the_inverted_scale() -> None:
    torch.manual_seed(0)
    dropout = Dropout(0.25)
    mask = dropout.torch_mask(torch.Size((400, 500)), torch.device("cpu"))
    assert torch.unique(mask).tolist() == pytest.approx([0.0, 1 / 0.75])
    assert float((mask > 0).float().mean()) == pytest.approx(0.75, abs=0.01)
    assert dropout.eval().mask(torch.Size((2, 2)), torch.device("cpu")) is None
