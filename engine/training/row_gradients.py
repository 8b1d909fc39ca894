"""Hand-written gradients for embedding tables: the batch's row gradients scattered into `.grad`, no autograd.

A factorization model's batch looks up a few rows of a few tables and does a little arithmetic on them; building
and walking an autograd graph over that costs several times the arithmetic on a CPU. implicit and LightFM update
the rows each sample touched in a compiled loop; the batch equivalent is to compute the loss's gradient with
respect to the looked-up rows by hand and add it into the tables' gradients (`index_add_`), which the optimizer
the config names then applies exactly as after `backward()`: Adam on dense tables, SparseAdam (lazy Adam, rows
of the batch only) on tables built with `sparse=True`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

BatchGradients = Callable[[tuple[torch.Tensor, ...]], float]
"""Computes one batch's loss and writes every trainable weight's gradient by hand (`RowGradients`); returns the
loss. The loop runs it under `torch.no_grad()` and then steps the optimizer."""


def sparse_gradient_weights(module: nn.Module) -> set[int]:
    """ids of the weights of embedding tables built with `sparse=True` (their gradients are sparse rows)."""
    return {id(m.weight) for m in module.modules() if isinstance(m, (nn.Embedding, nn.EmbeddingBag)) and m.sparse}


class RowGradients:
    """Accumulates one batch's (rows, values) gradients of a module's tables into their `.grad`.

    Dense tables get a dense gradient (zero outside the rows), sparse tables a sparse COO gradient of the rows;
    `finish` gives every trainable weight the batch did not touch a zero gradient, as autograd would, so Adam's
    moments move on every weight alike.
    """

    def __init__(self, module: nn.Module) -> None:
        self.weights = [p for p in module.parameters() if p.requires_grad]
        self.sparse = sparse_gradient_weights(module)
        self._pending: dict[int, list[tuple[torch.Tensor, torch.Tensor]]] = {}

    def add(self, weight: torch.Tensor, rows: torch.Tensor, values: torch.Tensor) -> None:
        """d loss / d weight[rows[k]] += values[k] (rows may repeat: repeats add up)."""
        self._pending.setdefault(id(weight), []).append((rows.reshape(-1), values.reshape(len(rows.reshape(-1)), -1)))

    def finish(self) -> None:
        """Write the batch's gradients into `.grad` of every trainable weight and forget them."""
        for weight in self.weights:
            parts = self._pending.get(id(weight), [])
            rows = torch.cat([r for r, _ in parts]) if len(parts) > 1 else (parts[0][0] if parts else None)
            values = torch.cat([v for _, v in parts]) if len(parts) > 1 else (parts[0][1] if parts else None)
            if id(weight) in self.sparse:
                if rows is None:
                    rows = torch.zeros(0, dtype=torch.int64, device=weight.device)
                    values = weight.new_zeros((0, *weight.shape[1:]))
                weight.grad = torch.sparse_coo_tensor(rows.unsqueeze(0), values.view(-1, *weight.shape[1:]),
                                                      weight.shape, check_invariants=False)
                continue
            grad = torch.zeros_like(weight)
            if rows is not None:
                grad.view(len(weight), -1).index_add_(0, rows, values.view(len(rows), -1).to(grad.dtype))
            weight.grad = grad
        self._pending.clear()
