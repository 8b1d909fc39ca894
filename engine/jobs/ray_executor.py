"""Runs on a Ray cluster (`COLDSTART_EXECUTOR=ray`, `RAY_ADDRESS`): one Ray task per run, with its CPU/GPU needs.

The task runs the same `execute_run` a local child process runs, so progress, cancel requests and results still go
through the database; Ray only places the task on a node with a free GPU (or CPUs) and can stop it. Every node needs
the project installed at the same path, `DATABASE_URL` reachable (PostgreSQL) and `COLDSTART_HOME` on a shared
filesystem, where datasets, splits and artifacts live. Each task gets a fresh worker process (`max_calls=1`),
as each local run gets a fresh interpreter, and is never retried: a run that died is reported failed, not re-run.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.jobs.executor import CANCEL_GRACE_S
from engine.settings import get_settings

FORWARDED_ENV_PREFIXES = ("COLDSTART_", "DATABASE_URL")
"""Settings the driver passes to every task, so a run on another node finds the same database and data folder."""
PROJECT_ROOT = str(Path(__file__).resolve().parents[2])


def _execute(run_id: int) -> int:
    """The body of a run's Ray task: the run, start to final state, in this worker process."""
    from engine.jobs.child import execute_run

    return execute_run(run_id)


@dataclass
class _Task:
    ref: Any
    slot: str
    kill_at: float | None = None


def task_environment() -> dict[str, str]:
    """The driver's settings for the task (database, data folder, extra models) and the project on its path."""
    env = {k: v for k, v in os.environ.items() if k.startswith(FORWARDED_ENV_PREFIXES)}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (PROJECT_ROOT, os.environ.get("PYTHONPATH", "")) if p)
    return env


class RayExecutor:
    """One Ray task per run on the cluster at `RAY_ADDRESS` (or a local Ray started here when unset)."""

    def __init__(self, address: str | None = None, grace_s: float = CANCEL_GRACE_S) -> None:
        import ray  # only this executor needs Ray

        self._ray = ray
        if not ray.is_initialized():
            address = address or get_settings().ray_address
            try:
                ray.init(address=address, log_to_driver=False,
                         runtime_env={"env_vars": {"PYTHONPATH": task_environment()["PYTHONPATH"]}})
            except (ConnectionError, RuntimeError) as error:
                raise ValueError(f"could not reach the Ray cluster at RAY_ADDRESS={address}: {error}; start it with "
                                 "`ray start --head` there, or unset RAY_ADDRESS to start Ray on this machine") from None
        self._remote = ray.remote(max_calls=1, max_retries=0)(_execute)
        self.cpus = get_settings().ray_cpus_per_run
        self.grace_s = grace_s
        self._tasks: dict[int, _Task] = {}

    def default_slots(self) -> list[str]:
        """One slot per GPU in the cluster ("cuda:N" labels: Ray picks the GPU), else one per `cpus` CPUs."""
        resources = self._ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        if gpus:
            return [f"cuda:{index}" for index in range(gpus)]
        return [f"cpu:{index}" for index in range(max(1, int(resources.get("CPU", 1)) // self.cpus))]

    def launch(self, run_id: int, slot: str) -> int | None:
        options = {"num_cpus": self.cpus, "num_gpus": 1 if slot.startswith("cuda") else 0,
                   "runtime_env": {"env_vars": task_environment()}, "name": f"coldstart-run-{run_id}"}
        self._tasks[run_id] = _Task(self._remote.options(**options).remote(run_id), slot)
        return None  # the task's process may live on another machine: liveness goes by its heartbeats

    def poll(self, run_id: int) -> int | None:
        task = self._tasks.get(run_id)
        if task is None:
            return None
        ready, _ = self._ray.wait([task.ref], timeout=0)
        if not ready:
            if task.kill_at is not None and time.monotonic() >= task.kill_at:
                self._ray.cancel(task.ref, force=True)
                task.kill_at = float("inf")
            return None
        del self._tasks[run_id]
        return self._exit_code(task.ref)

    def _exit_code(self, ref) -> int:
        """The run's exit code, as a local child's would read: killed and cancelled tasks as signals."""
        exceptions = self._ray.exceptions
        try:
            return int(self._ray.get(ref))
        except exceptions.TaskCancelledError:
            return -signal.SIGTERM
        except (exceptions.WorkerCrashedError, exceptions.NodeDiedError, exceptions.OutOfMemoryError):
            return -signal.SIGKILL
        except exceptions.RayError:
            return 1

    def cancel(self, run_id: int) -> None:
        # Ray interrupts the task (the run ends cancelled, as on its own cancel request); forced after the grace
        task = self._tasks.get(run_id)
        if task is not None and task.kill_at is None:
            task.kill_at = time.monotonic() + self.grace_s
            self._ray.cancel(task.ref, force=False)

    def running(self) -> dict[int, str]:
        return {run_id: task.slot for run_id, task in self._tasks.items()}

    def prepare(self, slots: list[str]) -> None:
        """Nothing to warm: Ray keeps its own worker processes."""

    def close(self) -> None:
        """Nothing to release. Ray ends a driver's tasks with it; their runs then stop sending heartbeats and the
        next supervisor marks them "worker lost"."""
