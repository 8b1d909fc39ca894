"""Cold-Start Lab engine, in layers from `core` up to `cli` (docs/architecture.md). Never imports Streamlit."""

import os

# Idle OpenMP threads spin briefly, then sleep, unless the environment says how they should wait. Every process that
# trains (a run's child, the CLI, the app) imports this package before torch, whose OpenMP (libgomp in the Linux
# wheels) reads the setting once. libgomp's default spins about a millisecond: on a machine shared with the app, the
# browser and other runs, a fit's waiting threads then take the cores its working ones need. Printed by
# benchmarks/thread_policy.py, 2 cores, the demo's five fits and two MovieLens 100K fits: with two CPU-bound processes
# beside them 24.3 s against 42.0 s for the default (sleeping at once, PASSIVE: 20.5 s), and on the idle machine
# 10.4 s against 11.1 s (PASSIVE: 12.0 s, its threads woken too late for small parallel regions).
if "OMP_WAIT_POLICY" not in os.environ:
    os.environ.setdefault("GOMP_SPINCOUNT", "10000")

__version__ = "0.1.0"
