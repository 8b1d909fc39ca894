"""The supervisor (`python -m engine worker`): claims queued runs while device slots are free and watches them.

Every tick it refreshes its heartbeat, reaps children that ended (turning an exit without a recorded result into a
failed run with a reason), forwards cancel requests to the children's process groups, marks runs whose process is
gone as "worker lost", and claims more runs. Several supervisors may run at once: claims are atomic, and runs are
independent of the supervisor that started them, so killing a supervisor never kills its runs.

The supervisor the app starts is the exception: it belongs to the app, so when the app's server process exits
(Ctrl-C on `make run`) it fails its runs with that reason, stops their processes and its ready interpreters, and
exits. Otherwise a stopped app would leave training and about a gigabyte of idle interpreters behind. One started by
hand (`python -m engine worker`) runs until it is stopped itself.
"""

from __future__ import annotations

import argparse
import fcntl
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from contextlib import contextmanager
from typing import Iterator

from sqlalchemy import select

from engine.jobs.executor import CANCEL_GRACE_S, WARM_PER_SLOT, Executor, LocalExecutor
from engine.jobs.liveness import (HEARTBEAT_S, beat_worker, fail_lost_runs, live_workers, new_worker_id,
                                  process_alive, register_worker, stop_worker)
from engine.jobs.queue import claim_next_run, finish_run, get_run, set_run_pid
from engine.logs import configure_logging, log_event
from engine.settings import MAX_RUNS_ENV, get_settings
from engine.store.db import session_scope
from engine.store.tables import RunRow

log = logging.getLogger("coldstart.supervisor")

SUPERVISOR_START_TIMEOUT_S = 30.0
APP_STOPPED = ("the app was stopped while this run trained, and the background worker it had started stopped with "
               "it; re-run it")
STOP_MARGIN_S = 5.0
"""Seconds beyond the cancel grace that stopping the runs waits for their processes to be reaped."""


class SupervisorStartError(RuntimeError):
    """The app could not start a supervisor; the message says where its log is."""


def make_executor(threads_per_run: int | None, warm: int) -> Executor:
    """The executor `COLDSTART_EXECUTOR` names (settings.executor says what the accepted values are). It is chosen
    here, above both executors, so the Ray one can build on the local one's module without a cycle."""
    if get_settings().executor == "ray":
        from engine.jobs.ray_executor import RayExecutor  # Ray is imported only when asked for

        return RayExecutor()
    return LocalExecutor(threads_per_run=threads_per_run, warm=warm)


def warm_children() -> int:
    """Ready interpreters per slot from `COLDSTART_WARM_CHILDREN` (default `WARM_PER_SLOT`); 0 starts each run's
    interpreter only when the run is claimed, saving their idle memory at the cost of a slower start."""
    configured = get_settings().warm_children
    return WARM_PER_SLOT if configured is None else configured


def describe_exit(code: int) -> str:
    """A readable reason for a child that ended without recording its result."""
    if code < 0:
        name = signal.Signals(-code).name
        if -code == signal.SIGKILL:
            return ("the run's process was killed (SIGKILL) before it finished, by hand or by the system when memory "
                    "ran out; re-run it, with a smaller model or batch size if memory is short")
        return f"the run's process was stopped by signal {name} before it finished; re-run it"
    return f"the run's process exited with code {code} without recording a result; see logs/run-<id>.log"


def _cancel_requested(run_id: int) -> bool:
    """Whether the run's user asked to cancel it (it then ends "cancelled", whatever stopped it)."""
    with session_scope() as session:
        row = session.get(RunRow, run_id)
        return row is not None and row.cancel_requested


class Supervisor:
    """Claims and watches runs on this machine's devices."""

    def __init__(self, executor: Executor | None = None, slots: list[str] | None = None,
                 runs_per_slot: int | None = None, poll_s: float = 0.2, app_pid: int | None = None) -> None:
        self.worker_id = new_worker_id()
        self.slots = slots
        self.runs_per_slot = runs_per_slot or get_settings().max_runs_per_device
        threads = max(1, (os.cpu_count() or 1) // self.runs_per_slot)
        self.executor: Executor = executor or make_executor(threads_per_run=threads, warm=warm_children())
        self.poll_s = poll_s
        self.app_pid = app_pid
        """The app server process that started this supervisor and owns it; None when started by hand."""
        self._last_beat = 0.0
        self._orphan_kill_at: dict[int, float] = {}
        self._launched_at: dict[int, float] = {}

    def start(self) -> None:
        """Announce this supervisor and settle runs left by supervisors that died."""
        register_worker(self.worker_id)
        self._last_beat = time.monotonic()
        if self.slots is None:
            self.slots = self.executor.default_slots()
        self.executor.prepare(self.slots)
        lost = fail_lost_runs()
        log_event(log, "worker_started", worker=self.worker_id, slots=",".join(self.slots),
                  runs_per_slot=self.runs_per_slot, lost=",".join(map(str, lost)) or "none")

    def tick(self) -> None:
        """One round: heartbeat, reap, forward cancels, settle lost runs, fill free slots."""
        if time.monotonic() - self._last_beat >= HEARTBEAT_S:
            beat_worker(self.worker_id)
            self._last_beat = time.monotonic()
        self._reap()
        self._forward_cancels()
        fail_lost_runs(exclude=set(self.executor.running()))
        self._fill_slots()

    def run(self, stop: threading.Event) -> None:
        """Start, then serve until `stop` is set or the owning app exits."""
        self.start()
        self.serve(stop)

    def serve(self, stop: threading.Event) -> None:
        """Tick until `stop` is set (runs in flight keep going) or the owning app exits (its runs are stopped)."""
        try:
            while not stop.is_set():
                if self.app_exited():
                    log_event(log, "app_exited", app_pid=self.app_pid, action="stopping its runs")
                    stop_worker(self.worker_id)  # an app started again meanwhile must not count on this supervisor
                    self.stop_runs(APP_STOPPED)
                    break
                try:
                    self.tick()
                except Exception:  # one bad tick (a database hiccup) must not end the supervisor
                    log.exception("supervisor tick failed; trying again")
                stop.wait(self.poll_s)
        finally:
            self.executor.close()
            stop_worker(self.worker_id)

    def app_exited(self) -> bool:
        """Whether the owning app has exited: its children, this one included, then get another parent."""
        return self.app_pid is not None and os.getppid() != self.app_pid

    def stop_runs(self, reason: str) -> None:
        """End this supervisor's runs failed with `reason` (cancelled where the user asked) and stop their processes.

        The state is written first, so what the stopped child records on its way out changes nothing; the wait for
        the processes is bounded by the cancel grace, after which they are killed.
        """
        for run_id in list(self.executor.running()):
            if _cancel_requested(run_id):
                finish_run(run_id, "cancelled", message="cancelled")
            else:
                finish_run(run_id, "failed", message="app stopped", error=reason)
            self.executor.cancel(run_id)
        deadline = time.monotonic() + CANCEL_GRACE_S + STOP_MARGIN_S
        while self.executor.running() and time.monotonic() < deadline:
            for run_id in list(self.executor.running()):
                self.executor.poll(run_id)
            time.sleep(self.poll_s)

    def _reap(self) -> None:
        for run_id in list(self.executor.running()):
            code = self.executor.poll(run_id)
            if code is None:
                continue
            # a child that recorded its final state already left "running"; finish_run then changes nothing
            if _cancel_requested(run_id):
                finish_run(run_id, "cancelled", message="cancelled")
            else:
                finish_run(run_id, "failed", message="failed", error=describe_exit(code))
            self._log_end(run_id, code)

    def _log_end(self, run_id: int, code: int) -> None:
        """`run_finished` (done or cancelled) or `run_failed` with the run's wall time since launch and its error."""
        run = get_run(run_id)
        seconds = time.monotonic() - self._launched_at.pop(run_id, time.monotonic())
        if run.status == "failed":
            last_line = (run.error or "").strip().rsplit("\n", 1)[-1]  # a traceback's last line names the error
            log_event(log, "run_failed", logging.WARNING, run_id=run_id, model=run.model, exit_code=code,
                      seconds=seconds, error=last_line)
        else:
            log_event(log, "run_finished", run_id=run_id, model=run.model, status=run.status, exit_code=code,
                      seconds=seconds)

    def _forward_cancels(self) -> None:
        with session_scope() as session:
            wanted = session.execute(select(RunRow.id, RunRow.pid).where(
                RunRow.status == "running", RunRow.cancel_requested.is_(True))).all()
        ours = self.executor.running()
        for run_id, pid in wanted:
            if run_id in ours:
                self.executor.cancel(run_id)
            elif process_alive(pid):
                self._stop_orphan(run_id, pid)

    def _stop_orphan(self, run_id: int, pid: int) -> None:
        """Cancel a run whose own supervisor died: same SIGTERM-then-SIGKILL, by the pid the run recorded."""
        now = time.monotonic()
        kill_at = self._orphan_kill_at.setdefault(run_id, now + CANCEL_GRACE_S)
        sig = signal.SIGKILL if now >= kill_at else signal.SIGTERM
        try:
            os.killpg(pid, sig)
        except (ProcessLookupError, PermissionError):
            self._orphan_kill_at.pop(run_id, None)

    def _fill_slots(self) -> None:
        busy = Counter(self.executor.running().values())
        for slot in self.slots or []:
            while busy[slot] < self.runs_per_slot:
                claimed = claim_next_run(self.worker_id, slot)
                if claimed is None:
                    return
                log_event(log, "run_claimed", run_id=claimed.id, model=claimed.model, slot=slot)
                try:
                    pid = self.executor.launch(claimed.id, slot)
                except OSError as error:
                    finish_run(claimed.id, "failed", message="failed", error=f"could not start the run: {error}")
                    log_event(log, "run_failed", logging.WARNING, run_id=claimed.id, model=claimed.model,
                              error=f"could not start the run: {error}")
                    continue
                if pid is not None:
                    set_run_pid(claimed.id, pid)
                busy[slot] += 1
                self._launched_at[claimed.id] = time.monotonic()
                log_event(log, "run_started", run_id=claimed.id, model=claimed.model, slot=slot,
                          pid=pid if pid is not None else "none")


@contextmanager
def _launch_lock() -> Iterator[None]:
    """Serialize app processes that check for a supervisor and start one, so two do not both start one."""
    home = get_settings().home
    home.mkdir(parents=True, exist_ok=True)
    with open(home / "supervisor.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_supervisor(timeout_s: float = SUPERVISOR_START_TIMEOUT_S) -> str:
    """The id of a live supervisor (by heartbeat), starting one in the background when none is alive.

    A supervisor started here belongs to the calling process (the app's server): it stops, with its runs, when that
    process exits. It runs in its own session all the same, so a Ctrl-C meant for the app reaches only the app, and
    the supervisor winds its runs down itself.
    """
    with _launch_lock():
        alive = live_workers()
        if alive:
            return alive[0].id
        logs = get_settings().home / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        log_path = logs / "supervisor.log"
        with open(log_path, "ab") as out:
            process = subprocess.Popen([sys.executable, "-m", "engine.jobs.supervisor", "--app-pid", str(os.getpid())],
                                       stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            alive = [w for w in live_workers() if w.pid == process.pid]
            if alive:
                return alive[0].id
            if process.poll() is not None:
                raise SupervisorStartError(f"the background worker exited at start (code {process.returncode}); "
                                           f"see {log_path}")
            time.sleep(0.1)
        raise SupervisorStartError(f"the background worker did not report within {timeout_s:.0f} s; see {log_path}")


def add_worker_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `python -m engine worker`."""
    parser.add_argument("--max-runs-per-device", type=int, default=None,
                        help=f"concurrent runs per GPU (or on the CPU); default from {MAX_RUNS_ENV} or 1")
    parser.add_argument("--app-pid", type=int, default=None, metavar="PID",
                        help="the app that starts this worker passes its process id: when that process exits, the "
                             "worker fails its runs with that reason and exits too (default: run until stopped)")


def run_worker(args: argparse.Namespace) -> int:
    """Run a supervisor in the foreground until SIGTERM or Ctrl-C; 2 on a bad setting."""
    configure_logging()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        if args.max_runs_per_device is not None and args.max_runs_per_device < 1:
            raise ValueError(f"--max-runs-per-device {args.max_runs_per_device} must be 1 or more")
        supervisor = Supervisor(runs_per_slot=args.max_runs_per_device, app_pid=args.app_pid)
        supervisor.slots = supervisor.executor.default_slots()
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    supervisor.run(stop)
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m engine.jobs.supervisor`, the same as `python -m engine worker`."""
    parser = argparse.ArgumentParser(prog="python -m engine worker", description=__doc__.splitlines()[0])
    add_worker_arguments(parser)
    return run_worker(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
