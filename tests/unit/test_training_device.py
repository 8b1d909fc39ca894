"""The device policy: CUDA when present, CPU otherwise, explicit requests honoured or refused clearly."""

from __future__ import annotations

import pytest
import torch

from engine.training.device import DeviceUnavailableError, MixedPrecision, describe_device, pick_device, seed_everything


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
