"""Inverted dropout whose mask is cheap on a CPU, for the deep models' MLPs (two-tower, DeepFM, NeuMF).

torch's CPU dropout draws one Bernoulli variable per element from its generator, and on this project's 2-core
machine that cost more than the layer's matrix product in DeepFM's training step. Here each 64-bit draw of numpy's
PCG64 gives four 16-bit uniforms, kept where they reach round(p * 65536) (p to within 1 / 65536): the same
distribution of masks at about a sixth of the cost. On other devices torch's own dropout is used.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

_LEVELS = 1 << 16


class Dropout(nn.Module):
    """`nn.Dropout(p)` with the CPU mask drawn as above; no parameters or buffers, so saved states are unchanged.

    The mask generator is seeded from torch's generator on first use, so a seeded fit repeats exactly.
    """

    def __init__(self, p: float) -> None:
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"dropout must be in [0, 1), got {p}")
        self.p = p
        self._generator: np.random.Generator | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        if x.device.type != "cpu":
            return F.dropout(x, self.p, training=True)
        return x * self._mask(x.shape).to(x.dtype)

    @property
    def scale(self) -> float:
        """What a kept element is multiplied by."""
        return 1 / (1 - self.p)

    def mask(self, shape: torch.Size, device: torch.device) -> torch.Tensor | None:
        """The float32 mask `forward` multiplies by (`scale` kept, 0 dropped), None when nothing is dropped; drawn
        as `forward` draws it on a CPU, by `torch_mask` on other devices."""
        if not self.training or self.p == 0:
            return None
        return self._mask(shape) if device.type == "cpu" else self.torch_mask(shape, device)

    def draw_seed(self) -> int | None:
        """One 63-bit draw of the mask generator, for a caller that hashes its units' masks from it (DeepFM's pair
        loss, `engine.training.fm_pairs.dropped_units`); None when nothing is dropped."""
        if not self.training or self.p == 0:
            return None
        return int(self._generator_().integers(0, 1 << 63))

    @property
    def drop_below(self) -> int:
        """A unit whose 16-bit uniform is below this is dropped (p to within 1 / 65536)."""
        return int(self._threshold())

    def torch_mask(self, shape: torch.Size, device: torch.device) -> torch.Tensor:
        """The mask from torch's generator on `device` (the GPU's; any device works)."""
        return (torch.rand(shape, device=device) >= self.p).to(torch.float32).mul_(self.scale)

    def _mask(self, shape: torch.Size) -> torch.Tensor:
        """1 / (1 - p) where an element is kept, 0 where it is dropped."""
        kept = self._uniforms(shape) >= self._threshold()
        return torch.from_numpy(np.multiply(kept, np.float32(1 / (1 - self.p)), dtype=np.float32))

    def _threshold(self) -> np.uint16:
        return np.uint16(min(round(self.p * _LEVELS), _LEVELS - 1))

    def _uniforms(self, shape: torch.Size) -> np.ndarray:
        """16-bit uniforms of `shape`, four per 64-bit draw of the generator (seeded from torch's on first use)."""
        size = int(np.prod(shape))
        return self._generator_().bit_generator.random_raw(-(-size // 4)).view(np.uint16)[:size].reshape(tuple(shape))

    def _generator_(self) -> np.random.Generator:
        """The mask generator, seeded from torch's generator on first use."""
        if self._generator is None:
            self._generator = np.random.default_rng(int(torch.randint(0, 2 ** 62, (1,))))
        return self._generator

    def extra_repr(self) -> str:
        return f"p={self.p}"
