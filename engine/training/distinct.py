"""A batch's distinct entities and each slot's position among them, for models that embed each entity once."""

from __future__ import annotations

import torch

from engine.training import cpu_kernels


def distinct(values: torch.Tensor, n_values: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`torch.unique(values, return_inverse=True)` for ids in [0, n_values): on a CPU with numba by marking a
    table of the catalogue (`cpu_kernels.unique_below`, the same sorted values and inverse without a sort) where
    the catalogue is no larger than a few times the batch; elsewhere torch's sort."""
    if values.device.type == "cpu" and cpu_kernels.available() and n_values <= 16 * values.numel():
        return cpu_kernels.unique_below(values, n_values)
    return torch.unique(values, return_inverse=True)
