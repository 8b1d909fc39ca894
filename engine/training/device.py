"""The one device policy: where tensors live, whether mixed precision is on, and how runs are seeded.

Models never branch on the device themselves: they ask `pick_device` once and use `MixedPrecision` around their
forward pass, so the same code trains on a laptop CPU and on a CUDA GPU.
"""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import torch

DEVICE_PREFERENCES = ("auto", "cpu", "cuda")


class DeviceUnavailableError(RuntimeError):
    """Raised when a run explicitly asks for a device this machine does not have."""


def pick_device(preference: str = "auto") -> torch.device:
    """The device to train and score on: CUDA when available (honouring CUDA_VISIBLE_DEVICES), else CPU.

    `preference` is "auto", "cpu", "cuda" or "cuda:N". Asking for CUDA on a machine without it is an error
    rather than a silent CPU fallback, so a benchmark never reports CPU figures under a GPU label.
    """
    choice = (preference or "auto").strip().lower()
    if choice == "auto":
        # torch enumerates only the GPUs CUDA_VISIBLE_DEVICES exposes, so "cuda" is the first visible one
        return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    if choice == "cpu":
        return torch.device("cpu")
    if choice == "cuda" or choice.startswith("cuda:"):
        if not torch.cuda.is_available():
            visible = os.environ.get("CUDA_VISIBLE_DEVICES")
            hint = f" (CUDA_VISIBLE_DEVICES={visible!r})" if visible is not None else ""
            raise DeviceUnavailableError(f"device {preference!r} requested but no CUDA GPU is available{hint}; "
                                         "use 'auto' or 'cpu'")
        device = torch.device(choice)
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceUnavailableError(f"device {preference!r} requested but only {torch.cuda.device_count()} "
                                         "CUDA device(s) are visible")
        return device
    raise ValueError(f"unknown device preference {preference!r}; use one of {', '.join(DEVICE_PREFERENCES)} "
                     "or 'cuda:N'")


def describe_device(device: torch.device | str) -> str:
    """A short human label for run records and benchmark output, e.g. "cpu" or "cuda:0 (NVIDIA H200)"."""
    device = torch.device(device)
    if device.type != "cuda":
        return device.type
    index = device.index if device.index is not None else torch.cuda.current_device()
    return f"cuda:{index} ({torch.cuda.get_device_name(index)})"


@dataclass
class MixedPrecision:
    """Autocast (bf16 where the GPU supports it, else fp16 with loss scaling) on CUDA; a no-op on CPU.

    CPU autocast is left off on purpose: bf16 matmuls on common CPUs are slower than fp32 and lose accuracy.
    """

    device: torch.device
    enabled: bool = field(init=False)
    dtype: torch.dtype = field(init=False)
    scaler: torch.amp.GradScaler = field(init=False)

    def __post_init__(self) -> None:
        self.enabled = self.device.type == "cuda"
        self.dtype = torch.bfloat16 if self.enabled and torch.cuda.is_bf16_supported() else torch.float16
        # loss scaling only matters for fp16, whose narrow exponent underflows small gradients
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.enabled and self.dtype == torch.float16)

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        """Context for the forward pass and loss."""
        if not self.enabled:
            yield
            return
        with torch.autocast(device_type="cuda", dtype=self.dtype):
            yield

    def backward_and_step(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
        """Backward pass and optimizer step, scaled when fp16 needs it."""
        self.scaler.scale(loss).backward()
        self.scaler.step(optimizer)
        self.scaler.update()


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices) so a run with the same seed gives the same model."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
