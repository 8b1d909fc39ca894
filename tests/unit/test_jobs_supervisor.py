"""The supervisor's decisions, driven tick by tick with a recording executor instead of real processes."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from engine.jobs.executor import child_environment, device_slots
from engine.jobs.liveness import live_workers
from engine.jobs.params import capability_summary, param_fields
from engine.jobs.queue import JobError, cancel_run, parse_seeds, submit_runs
from engine.jobs.supervisor import APP_STOPPED, Supervisor, describe_exit
from engine.settings import get_settings
from jobs_support import RecordingExecutor, empty_experiment, register_fault_models, run_status


@pytest.fixture
def experiment(coldstart_home, monkeypatch) -> int:
    register_fault_models(monkeypatch)
    return empty_experiment()


def _supervisor(slots: list[str], runs_per_slot: int) -> tuple[Supervisor, RecordingExecutor]:
    executor = RecordingExecutor()
    supervisor = Supervisor(executor=executor, slots=slots, runs_per_slot=runs_per_slot)
    supervisor.start()
    return supervisor, executor


def test_the_supervisor_fills_each_device_up_to_its_limit_and_no_further(experiment):
    ids = submit_runs(experiment, "tiny_popularity", seeds=list(range(7)))
    supervisor, executor = _supervisor(["cuda:0", "cuda:1"], runs_per_slot=2)
    supervisor.tick()
    assert sorted(executor.launched) == ids[:4]
    assert sorted(executor.launched.values()) == ["cuda:0", "cuda:0", "cuda:1", "cuda:1"]
    assert [run_status(i).status for i in ids] == ["running"] * 4 + ["queued"] * 3
    executor.exit_codes[ids[0]] = 0
    supervisor.tick()
    assert sorted(executor.launched) == ids[1:5]


def test_a_child_that_dies_without_recording_is_failed_with_the_signal_explained(experiment):
    (run_id,) = submit_runs(experiment, "tiny_popularity")
    supervisor, executor = _supervisor(["cpu"], runs_per_slot=1)
    supervisor.tick()
    executor.exit_codes[run_id] = -signal.SIGKILL
    supervisor.tick()
    row = run_status(run_id)
    assert row.status == "failed" and "killed (SIGKILL)" in row.error
    assert "exited with code 3" in describe_exit(3)


def test_a_cancel_request_reaches_the_runs_own_child_and_its_exit_ends_the_run_cancelled(experiment):
    (run_id,) = submit_runs(experiment, "tiny_popularity")
    supervisor, executor = _supervisor(["cpu"], runs_per_slot=1)
    supervisor.tick()
    cancel_run(run_id)
    supervisor.tick()
    assert executor.cancelled == [run_id]
    executor.exit_codes[run_id] = -signal.SIGTERM
    supervisor.tick()
    assert run_status(run_id).status == "cancelled"


class CooperativeExecutor(RecordingExecutor):
    """A recording executor whose runs exit on cancel (SIGTERM), as a run's child does, and that notes `close`."""

    closed = False

    def cancel(self, run_id: int) -> None:
        super().cancel(run_id)
        self.exit_codes[run_id] = -signal.SIGTERM

    def close(self) -> None:
        self.closed = True


def test_when_the_app_that_started_it_exits_the_supervisor_fails_its_runs_stops_them_and_exits(experiment,
                                                                                            monkeypatch):
    training, cancelling, waiting = submit_runs(experiment, "tiny_popularity", seeds=[0, 1, 2])
    executor = CooperativeExecutor()
    supervisor = Supervisor(executor=executor, slots=["cpu"], runs_per_slot=2, app_pid=os.getppid())
    supervisor.start()
    supervisor.tick()
    cancel_run(cancelling)
    assert not supervisor.app_exited()
    monkeypatch.setattr(os, "getppid", lambda: 1)  # what a child sees once its parent has exited
    supervisor.serve(threading.Event())  # returns by itself: nobody sets the stop event
    assert (run_status(training).status, run_status(training).error) == ("failed", APP_STOPPED)
    assert run_status(cancelling).status == "cancelled"
    assert run_status(waiting).status == "queued", "queued runs wait for the next start of the app"
    assert executor.cancelled == [training, cancelling] and not executor.running() and executor.closed
    assert live_workers() == []
    by_hand = Supervisor(executor=RecordingExecutor(), slots=["cpu"], runs_per_slot=1)
    assert not by_hand.app_exited(), "a worker started by hand runs until it is stopped itself"


def test_device_and_concurrency_settings_are_validated_with_the_variable_named(monkeypatch):
    monkeypatch.setenv("COLDSTART_DEVICE_SLOTS", "cuda:1, cpu,cuda:1")
    assert device_slots() == ["cuda:1", "cpu"]
    monkeypatch.setenv("COLDSTART_DEVICE_SLOTS", "gpu0")
    with pytest.raises(ValueError, match="COLDSTART_DEVICE_SLOTS has gpu0"):
        device_slots()
    monkeypatch.setenv("COLDSTART_MAX_RUNS_PER_DEVICE", "3")
    assert get_settings().max_runs_per_device == 3
    monkeypatch.setenv("COLDSTART_MAX_RUNS_PER_DEVICE", "many")
    with pytest.raises(ValueError, match="COLDSTART_MAX_RUNS_PER_DEVICE='many'"):
        _ = get_settings().max_runs_per_device


def test_a_gpu_run_sees_only_its_own_gpu_and_a_cpu_run_gets_a_thread_cap(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert child_environment("cuda:3", threads=None)["CUDA_VISIBLE_DEVICES"] == "3"
    assert child_environment("cpu", threads=2)["OMP_NUM_THREADS"] == "2"


def test_the_train_form_is_built_from_the_models_typed_config(monkeypatch):
    register_fault_models(monkeypatch)
    fields = {field.name: field for field in param_fields("tiny_popularity")}
    assert (fields["epochs"].kind, fields["epochs"].default, fields["epochs"].minimum) == ("int", 3, 1)
    assert fields["fault"].kind == "choice" and "disk_full" in fields["fault"].choices
    assert fields["epoch_seconds"].kind == "float" and fields["epochs"].help.startswith("Epochs of counting")
    assert capability_summary("tiny_popularity") == "new users (without attributes, not personalised)"



def test_seeds_are_read_from_lists_and_ranges_and_nonsense_is_refused():
    assert parse_seeds("0, 2;5-7, 2") == [0, 2, 5, 6, 7]
    with pytest.raises(JobError, match="range like 0-4"):
        parse_seeds("3-1")
    with pytest.raises(JobError, match="at least one seed"):
        parse_seeds(" , ")
