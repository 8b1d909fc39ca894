"""The one device policy: where tensors live, whether mixed precision is on, and how runs are seeded.

Models never branch on the device themselves: they ask `pick_device` once and use `MixedPrecision` around their
forward pass, so the same code trains on a laptop CPU and on a CUDA GPU.
"""

from __future__ import annotations

import contextlib
import functools
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import torch

DEVICE_PREFERENCES = ("auto", "cpu", "cuda")
CPU_BF16_ENV = "COLDSTART_CPU_BF16"


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

    CPU autocast is left off: on a CPU without native bf16 its matmuls are slower than fp32, and where the CPU has
    it, the conversions around every small product cost what the product saves. The few large products that do
    gain take bf16 explicitly (`cpu_bf16_products`).
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


@functools.cache
def cpu_multiplies_bf16_natively() -> bool:
    """Whether this CPU has AMX-BF16 tiles (and oneDNN's bf16 kernels to drive them): where bf16 products measured
    2-5x faster than fp32 ones. Without them bf16 is emulated by conversions and slower; AVX512-BF16 alone is
    unmeasured here, so it keeps fp32."""
    checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return (torch.backends.mkldnn.is_available() and all(getattr(torch.cpu, name, lambda: False)() for name in checks)
            and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported()))


def cpu_bf16_products(tensor: torch.Tensor) -> bool:
    """Whether a large product of the CPU float32 `tensor` should run in bf16 (fp32 accumulation; fp32 weights,
    gradients out and optimizer state): a CPU that multiplies bf16 natively, unless COLDSTART_CPU_BF16=0."""
    return (tensor.device.type == "cpu" and tensor.dtype == torch.float32
            and os.environ.get(CPU_BF16_ENV, "1") != "0" and cpu_multiplies_bf16_natively())


def padded_bf16(matrix: torch.Tensor, block: int = 64) -> torch.Tensor:
    """A bf16 copy of the 2-d `matrix`, zero-padded to whole `block`s of rows and columns. oneDNN compiles a bf16
    kernel per shape on its first use (2-5 ms, more than the product), and a batch's shapes vary with its distinct
    users and items: padded, a fit meets a handful of shapes (unpadded, a two-tower epoch on ML-100K ran 2.4x
    slower). The padding's zeros add nothing to a product; slice its result back."""
    rows, columns = matrix.shape
    padded = matrix.new_zeros((-(-rows // block) * block, -(-columns // block) * block), dtype=torch.bfloat16)
    padded[:rows, :columns] = matrix
    return padded


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices) so a run with the same seed gives the same model."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
