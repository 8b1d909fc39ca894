"""The device policy: CUDA when present, CPU otherwise, explicit requests honoured or refused clearly."""

from __future__ import annotations

import pytest
import torch

from engine.training import device
from engine.training.device import (CPU_BF16_ENV, DeviceUnavailableError, MixedPrecision, cpu_bf16_products,
                                    describe_device, padded_bf16, pick_device, seed_everything)


def test_auto_picks_cuda_exactly_when_cuda_is_available(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert pick_device("auto") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device("auto").type == "cuda"


def test_explicit_cpu_is_honoured_even_when_cuda_is_available(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device("cpu") == torch.device("cpu")


def test_asking_for_cuda_without_a_gpu_is_a_clear_error_not_a_silent_cpu_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    with pytest.raises(DeviceUnavailableError, match="CUDA_VISIBLE_DEVICES"):
        pick_device("cuda")


def test_unknown_device_preference_names_the_allowed_values() -> None:
    with pytest.raises(ValueError, match="auto, cpu, cuda"):
        pick_device("tpu")


def test_cpu_is_described_plainly_and_runs_without_mixed_precision() -> None:
    assert describe_device(torch.device("cpu")) == "cpu"
    precision = MixedPrecision(torch.device("cpu"))
    assert not precision.enabled
    with precision.autocast():
        assert torch.ones(2, 2).matmul(torch.ones(2, 2)).dtype == torch.float32


def test_seed_everything_makes_torch_draws_repeatable() -> None:
    seed_everything(7)
    first = torch.randn(5)
    seed_everything(7)
    assert torch.equal(first, torch.randn(5))


def test_bf16_products_only_for_cpu_float32_on_a_cpu_with_native_bf16_unless_turned_off(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CPU_BF16_ENV, "1")
    monkeypatch.setattr(device, "cpu_multiplies_bf16_natively", lambda: True)
    assert cpu_bf16_products(torch.ones(2))
    assert not cpu_bf16_products(torch.ones(2, dtype=torch.float64))
    assert not cpu_bf16_products(torch.ones(2, device="meta"))
    monkeypatch.setattr(device, "cpu_multiplies_bf16_natively", lambda: False)  # emulated bf16: slower than fp32
    assert not cpu_bf16_products(torch.ones(2))
    monkeypatch.setattr(device, "cpu_multiplies_bf16_natively", lambda: True)
    monkeypatch.setenv(CPU_BF16_ENV, "0")
    assert not cpu_bf16_products(torch.ones(2))


def test_padded_bf16_rounds_shapes_up_to_whole_blocks_of_zeros() -> None:
    matrix = torch.randn(70, 5)
    padded = padded_bf16(matrix)
    assert padded.shape == (128, 64) and padded.dtype == torch.bfloat16
    assert torch.equal(padded[:70, :5], matrix.to(torch.bfloat16))
    assert not padded[70:].any() and not padded[:, 5:].any()
    assert padded_bf16(torch.randn(64, 128)).shape == (64, 128)
