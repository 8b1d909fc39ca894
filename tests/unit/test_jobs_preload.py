"""A warm child imports, while it waits, what a run's first optimizer would otherwise import on the clock: torch's
compiler front end, which building a fused Adam imports (about 2 s idle, 10 s on a loaded machine)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIRST_STEP = """
import sys
from engine.jobs.child import preload
preload()
before = set(sys.modules)
import torch
from engine.training.loop import GradientConfig, make_optimizer
layer = torch.nn.Linear(4, 2)
optimizer = make_optimizer(layer, GradientConfig())
layer(torch.ones(3, 4)).sum().backward()
optimizer.step()
print(" ".join(sorted(set(sys.modules) - before)))
"""


def test_a_preloaded_child_builds_and_steps_its_first_optimizer_without_importing_torchs_compiler():
    done = subprocess.run([sys.executable, "-c", FIRST_STEP], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    imported = [name for name in done.stdout.split() if name.startswith(("torch", "engine", "numba"))]
    assert not [name for name in imported if name.startswith("torch._dynamo")], imported
    assert len(imported) < 5, imported  # a module or two of the profiler, not the compiler's few hundred
