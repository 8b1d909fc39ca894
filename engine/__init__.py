"""Cold-Start Lab engine, in layers from `core` up to `cli` (docs/architecture.md). Never imports Streamlit."""

import os

# Idle OpenMP threads sleep instead of spinning, unless the environment says otherwise. Every process that trains
# (a run's child, the CLI, the app) imports this package before torch, whose OpenMP reads the setting once. The
# machine is shared with the app, the browser and other runs: with libgomp's default, a fit's threads spin on cores
# that other processes need, and the Home page's demo fits took 3.6x the wall time on a loaded 2-core machine (auto
# 15.4 s against 5.2 s, DropoutNet 10.4 s against 1.6 s; hybrid MF on MovieLens 100K 16.1 s against 2.2 s), printed
# by benchmarks/thread_policy.py. Where nothing else wants the cores, a sleeping thread wakes microseconds later.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
