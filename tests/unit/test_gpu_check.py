"""The GPU machine's device check (benchmarks/gpu_check.py) runs end to end here, on the CPU, in its tiny mode:
the same functions a GPU run calls, so the script is known to work before a GPU machine is lent."""

from __future__ import annotations

import torch

from benchmarks import gpu_check


def test_gpu_check_reports_every_model_and_the_device_bound_in_tiny_mode_on_cpu(capsys) -> None:
    rates = gpu_check.main(["--tiny", "--device", "cpu"])
    assert [rate.model for rate in rates] == list(gpu_check.MODELS)
    assert all(rate.seconds_per_epoch > 0 and rate.samples_per_second > 0 for rate in rates)
    printed = capsys.readouterr().out
    assert "device: cpu" in printed and "TFLOP/s" in printed and "GB/s" in printed
    assert printed.count("| cpu |") == len(gpu_check.MODELS)


def test_the_device_bound_measures_positive_rates() -> None:
    assert gpu_check.gemm_flops(torch.device("cpu"), 64) > 0
    assert gpu_check.copy_bandwidth(torch.device("cpu"), 1) > 0
