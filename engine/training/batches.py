"""What the training loop consumes: a provider of shuffled mini-batches of tensors, one pass per epoch."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import numpy as np
import torch


class BatchProvider(Protocol):
    """Yields the mini-batches of one epoch as tuples of CPU tensors; the loop moves them to the device."""

    def n_batches(self) -> int:
        """Batches per epoch (for progress reporting)."""
        ...

    def n_samples(self) -> int:
        """Training examples per epoch (for samples-per-second figures)."""
        ...

    def epoch(self, epoch: int) -> Iterator[tuple[torch.Tensor, ...]]:
        """The batches of epoch number `epoch`; the same seed and epoch give the same batches."""
        ...


def check_batch_size(batch_size: int) -> int:
    """Validate a batch size coming from a user-editable config."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    return batch_size


class TensorBatches:
    """Shuffled mini-batches over aligned tensors, e.g. (users, items, ratings) for rating prediction."""

    def __init__(self, *tensors: torch.Tensor, batch_size: int, seed: int = 0) -> None:
        if not tensors:
            raise ValueError("TensorBatches needs at least one tensor")
        length = len(tensors[0])
        if any(len(t) != length for t in tensors):
            raise ValueError(f"TensorBatches needs tensors of equal length, got {[len(t) for t in tensors]}")
        if length == 0:
            raise ValueError("TensorBatches got no training examples: the training part is empty")
        self.tensors = tensors
        self.batch_size = check_batch_size(batch_size)
        self.seed = seed

    def n_batches(self) -> int:
        return -(-len(self.tensors[0]) // self.batch_size)

    def n_samples(self) -> int:
        return len(self.tensors[0])

    def epoch(self, epoch: int) -> Iterator[tuple[torch.Tensor, ...]]:
        order = torch.from_numpy(np.random.default_rng([self.seed, epoch]).permutation(len(self.tensors[0])))
        for start in range(0, len(order), self.batch_size):
            rows = order[start:start + self.batch_size]
            yield tuple(t[rows] for t in self.tensors)
