"""Where runs execute. The supervisor talks to an `Executor`; `LocalExecutor` runs each run in its own process.

Each run gets its own fresh interpreter (`python -m engine.jobs.child`, spawned, never forked, since CUDA does not
survive fork), in its own session so Streamlit reruns or a Ctrl-C of the app do not reach it, and with
`CUDA_VISIBLE_DEVICES` pinned to its GPU slot. Importing torch and the engine takes seconds, so a few interpreters per
slot are started ahead ("warm": imports done, CUDA untouched) and the oldest is handed the next run id on stdin; each
still serves exactly one run. Two per slot keep back-to-back runs from waiting on the one that was just started. Cancel sends SIGTERM to the run's process group (the child stops cooperatively), then SIGKILL when
it has not exited after a grace period. `COLDSTART_EXECUTOR=ray` swaps in `RayExecutor` (engine/jobs/ray_executor.py):
one Ray task per run on a cluster, behind the same methods, so neither the supervisor nor the pages notice.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from engine.settings import get_settings

CANCEL_GRACE_S = 5.0
"""Seconds a cancelled run gets to stop on its own before its process group is killed."""
WARM_PER_SLOT = 2
"""Ready interpreters per device slot: one may still be importing when a run finishes, so keep a second."""


class Executor(Protocol):
    """Starts, watches and stops runs; one implementation per place runs execute."""

    def launch(self, run_id: int, slot: str) -> int | None:
        """Start run `run_id` on device `slot` ("cpu" or "cuda:N"); returns its process id on this machine (None
        where it runs elsewhere: then only its heartbeats tell whether it is alive)."""

    def poll(self, run_id: int) -> int | None:
        """The run's exit code once it has ended (negative: killed by that signal), else None."""

    def cancel(self, run_id: int) -> None:
        """Ask the run to stop now; force it after a grace period (checked on later polls)."""

    def running(self) -> dict[int, str]:
        """Run id -> device slot of every run launched and not yet reaped."""

    def prepare(self, slots: list[str]) -> None:
        """Get ready to start runs on `slots` quickly (may do nothing)."""

    def default_slots(self) -> list[str]:
        """The slots to fill when none were configured: this machine's devices, or the cluster's."""

    def close(self) -> None:
        """Release what `prepare` holds; runs already launched keep going."""


def device_slots() -> list[str]:
    """The slots of `COLDSTART_DEVICE_SLOTS`, else one per visible GPU ("cuda:0", ...), else a single "cpu"."""
    configured = get_settings().device_slots
    if configured:
        return configured
    import torch  # only to count GPUs, and only here: the app and the queue never need it

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return [f"cuda:{index}" for index in range(count)] or ["cpu"]


@dataclass
class _Child:
    process: subprocess.Popen
    slot: str
    kill_at: float | None = None


def child_command(argument: str) -> list[str]:
    """The command line of a run's child process: a run id, or `--warm` to wait for one on stdin."""
    return [sys.executable, "-m", "engine.jobs.child", argument]


def child_environment(slot: str, threads: int | None) -> dict[str, str]:
    """The parent's environment with the run's GPU pinned (or hidden on a CPU slot) and CPU threads capped."""
    env = dict(os.environ)
    if slot.startswith("cuda:"):
        env["CUDA_VISIBLE_DEVICES"] = slot.split(":", 1)[1]
    if threads is not None:
        env.setdefault("OMP_NUM_THREADS", str(threads))
    # the child imports the engine from the project root, wherever the supervisor was started from
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    return env


class LocalExecutor:
    """Runs each run as a child process on this machine."""

    def __init__(self, threads_per_run: int | None = None, grace_s: float = CANCEL_GRACE_S,
                 warm: int = WARM_PER_SLOT) -> None:
        self.threads_per_run = threads_per_run
        self.warm = warm
        self.grace_s = grace_s
        self._children: dict[int, _Child] = {}
        self._warm: dict[str, list[subprocess.Popen]] = {}

    def _spawn(self, slot: str, argument: str, log_name: str) -> subprocess.Popen:
        logs = get_settings().home / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        with open(logs / log_name, "ab") as log:
            return subprocess.Popen(child_command(argument), env=child_environment(slot, self.threads_per_run),
                                    stdin=subprocess.PIPE if argument == "--warm" else subprocess.DEVNULL,
                                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True, text=True)

    def _warm_up(self, slot: str) -> None:
        """Top the slot's pool of ready interpreters up to `warm` live ones."""
        pool = [process for process in self._warm.get(slot, []) if process.poll() is None]
        while len(pool) < self.warm:
            pool.append(self._spawn(slot, "--warm", "warm-children.log"))
        self._warm[slot] = pool

    def _hand_over(self, slot: str, run_id: int) -> subprocess.Popen | None:
        """Give the run to the slot's oldest live warm child (the likeliest to be ready); None when there is none."""
        pool = self._warm.get(slot, [])
        while pool:
            process = pool.pop(0)
            if process.poll() is not None:
                continue
            try:
                process.stdin.write(f"{run_id}\n")
                process.stdin.close()
            except OSError:
                continue
            return process
        return None

    def launch(self, run_id: int, slot: str) -> int:
        process = self._hand_over(slot, run_id) or self._spawn(slot, str(run_id), f"run-{run_id}.log")
        self._children[run_id] = _Child(process, slot)
        self._warm_up(slot)
        return process.pid

    def default_slots(self) -> list[str]:
        return device_slots()

    def prepare(self, slots: list[str]) -> None:
        for slot in slots:
            if slot not in self._warm:
                self._warm_up(slot)

    def close(self) -> None:
        for pool in self._warm.values():
            for process in pool:
                _signal_group(process.pid, signal.SIGKILL)
                process.wait()
        self._warm.clear()

    def poll(self, run_id: int) -> int | None:
        child = self._children.get(run_id)
        if child is None:
            return None
        code = child.process.poll()
        if code is None:
            if child.kill_at is not None and time.monotonic() >= child.kill_at:
                _signal_group(child.process.pid, signal.SIGKILL)
            return None
        # the run's own children (data loaders) die with their group
        _signal_group(child.process.pid, signal.SIGKILL)
        del self._children[run_id]
        return code

    def cancel(self, run_id: int) -> None:
        child = self._children.get(run_id)
        if child is None or child.kill_at is not None:
            return
        child.kill_at = time.monotonic() + self.grace_s
        _signal_group(child.process.pid, signal.SIGTERM)

    def running(self) -> dict[int, str]:
        return {run_id: child.slot for run_id, child in self._children.items()}


def _signal_group(pid: int, sig: signal.Signals) -> None:
    """Signal a run's whole process group (its pid leads the group, thanks to start_new_session)."""
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
