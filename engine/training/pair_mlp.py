"""An MLP over (user part, item part) pairs whose first layer is split in two, so that scoring every user against
every candidate item costs one small matrix per side plus a broadcast, never a materialised concatenation.

W [u; i] + b = (W_u u + b) + W_i i: the user and item halves are computed once per user and once per item.
Used by the pairwise deep models (NeuMF's MLP tower, DeepFM's deep component).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from engine.training.dropout import Dropout


class PairMLP(nn.Module):
    """ReLU MLP over concat(user_part, item_part); returns the last hidden layer."""

    def __init__(self, user_dim: int, item_dim: int, hidden: Sequence[int], dropout: float = 0.0) -> None:
        super().__init__()
        if not hidden or any(h < 1 for h in hidden):
            raise ValueError(f"PairMLP needs at least one hidden layer of positive width, got {list(hidden)}")
        self.user_in = nn.Linear(user_dim, hidden[0])
        self.item_in = nn.Linear(item_dim, hidden[0], bias=False)
        layers: list[nn.Module] = [nn.ReLU(), Dropout(dropout)]
        for width_in, width_out in zip(hidden[:-1], hidden[1:]):
            layers += [nn.Linear(width_in, width_out), nn.ReLU(), Dropout(dropout)]
        self.rest = nn.Sequential(*layers)
        self.out_dim = hidden[-1]

    def forward(self, user_part: torch.Tensor, item_part: torch.Tensor) -> torch.Tensor:
        """Aligned pairs: user_part (..., user_dim) with item_part (..., item_dim) -> (..., out_dim)."""
        return self.combine(self.user_in(user_part), self.item_in(item_part))

    def all_pairs(self, user_part: torch.Tensor, item_part: torch.Tensor) -> torch.Tensor:
        """Every user with every item: (n_users, user_dim) x (n_items, item_dim) -> (n_users, n_items, out_dim)."""
        return self.combine(self.user_in(user_part).unsqueeze(1), self.item_in(item_part).unsqueeze(0))

    def hidden_layers(self) -> tuple[list[nn.Linear], list[Dropout]]:
        """The layers after the first (`Linear`s) and every hidden layer's dropout, first layer's first."""
        layers = list(self.rest)
        return layers[2::3], layers[1::3]

    def combine(self, user_half: torch.Tensor, item_half: torch.Tensor) -> torch.Tensor:
        """The MLP from the halves of its first layer (`user_in`, `item_in` outputs, broadcastable), so a caller
        can compute each half once per distinct user and item of a batch.

        `rest` is [ReLU, Dropout] + [Linear, ReLU, Dropout] per further layer; each ReLU and its dropout run as one
        `relu_dropout` (the first with the halves' sum), whose pairs x width activations are the bulk of the
        work: the layers' products cost less than separate passes for the sum, ReLU, mask and their backward."""
        linears, dropouts = self.hidden_layers()
        x = relu_dropout(user_half, item_half, dropouts[0])
        for linear, dropout in zip(linears, dropouts[1:]):
            x = relu_dropout(linear(x), None, dropout)
        return x


def relu_dropout(x: torch.Tensor, y: torch.Tensor | None, dropout: Dropout) -> torch.Tensor:
    """dropout(relu(x + y)) (y optional, broadcast with x), in one buffer forward and one pass back.

    The dropout mask holds 0 and one scale, so where the output is positive the gradient is the incoming one times
    that scale, and zero elsewhere: only the output is kept for the backward pass, not the sum, ReLU and mask."""
    shape = x.shape if y is None else torch.broadcast_shapes(x.shape, y.shape)
    mask = dropout.mask(shape, x.device)
    if torch.is_grad_enabled() and (x.requires_grad or (y is not None and y.requires_grad)):
        return _ReluDropout.apply(x, y, mask, dropout.scale if mask is not None else 1.0)
    return _relu_dropout(x, y, mask)


def _relu_dropout(x: torch.Tensor, y: torch.Tensor | None, mask: torch.Tensor | None) -> torch.Tensor:
    out = torch.add(x, y).clamp_min_(0) if y is not None else x.clamp_min(0)
    return out.mul_(mask.to(out.dtype)) if mask is not None else out


class _ReluDropout(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, y: torch.Tensor | None, mask: torch.Tensor | None,
                scale: float) -> torch.Tensor:
        out = _relu_dropout(x, y, mask)
        ctx.save_for_backward(out)
        ctx.scale = scale
        ctx.shapes = (x.shape, None if y is None else y.shape)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None, None, None]:
        (out,) = ctx.saved_tensors
        d = torch.ops.aten.threshold_backward(grad, out, 0)
        if ctx.scale != 1.0:
            d.mul_(ctx.scale)
        x_shape, y_shape = ctx.shapes
        d_x = d.sum_to_size(x_shape) if ctx.needs_input_grad[0] else None
        d_y = d.sum_to_size(y_shape) if y_shape is not None and ctx.needs_input_grad[1] else None
        return d_x, d_y, None, None
