"""The run queue: submitting, claiming, cancelling, re-running and deleting runs in the database."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from engine.jobs.queue import (DuplicateRunError, JobError, cancel_run, claim_next_run, delete_run, expand_grid,
                               finish_run, free_seeds, list_runs, rerun_run, submit_runs)
from engine.settings import get_settings
from tests.databases import hold_write_lock
from jobs_support import ROOT, empty_experiment, register_fault_models, run_status


@pytest.fixture
def experiment(coldstart_home, monkeypatch) -> int:
    register_fault_models(monkeypatch)
    return empty_experiment()


def test_seeds_and_grid_expand_into_one_queued_run_each(experiment):
    ids = submit_runs(experiment, "tiny_popularity", {"epochs": 2}, seeds=[0, 1],
                      grid={"epoch_seconds": [0.0, 0.1], "steps_per_epoch": [1, 3]})
    runs = {run.id: run for run in list_runs(experiment)}
    assert sorted(runs) == ids and len(ids) == 8
    assert {run.status for run in runs.values()} == {"queued"}
    combos = {(r.seed, r.params["epoch_seconds"], r.params["steps_per_epoch"]) for r in runs.values()}
    assert len(combos) == 8
    # the full typed config is stored, so a re-run reproduces it even if defaults change later
    assert all(r.params["epochs"] == 2 and r.params["fault"] == "none" for r in runs.values())


def test_submit_rejects_bad_hyper_parameters_with_the_field_named(experiment):
    with pytest.raises(JobError, match="epochs"):
        submit_runs(experiment, "tiny_popularity", {"epochs": 0})
    with pytest.raises(JobError, match="unknown model 'nope'"):
        submit_runs(experiment, "nope")
    with pytest.raises(JobError, match="experiment 999 does not exist"):
        submit_runs(999, "tiny_popularity")
    with pytest.raises(JobError, match="empty"):
        expand_grid({"epochs": []})
    with pytest.raises(JobError, match="narrow the grid"):
        submit_runs(experiment, "tiny_popularity", seeds=list(range(10)), grid={"epochs": list(range(1, 11))})
    assert list_runs(experiment) == []


def test_claims_take_the_oldest_queued_run_once(experiment):
    first, second = submit_runs(experiment, "tiny_popularity", seeds=[0, 1])
    claimed = claim_next_run("worker-a", "cpu")
    assert claimed.id == first
    assert claim_next_run("worker-b", "cpu").id == second
    assert claim_next_run("worker-a", "cpu") is None
    row = run_status(first)
    assert (row.status, row.worker_id, row.device) == ("running", "worker-a", "cpu")


CLAIMER = """
import json, sys
from engine.jobs.queue import claim_next_run
claimed = []
while (run := claim_next_run(sys.argv[1], "cpu")) is not None:
    claimed.append(run.id)
print(json.dumps(claimed))
"""


def _start_claimer(worker: str) -> subprocess.Popen:
    """A separate process that claims runs until the queue is empty and prints their ids."""
    return subprocess.Popen([sys.executable, "-c", CLAIMER, worker], stdout=subprocess.PIPE, text=True, cwd=ROOT)


def _claimed(process: subprocess.Popen) -> list[int]:
    out, _ = process.communicate(timeout=120)
    assert process.returncode == 0
    return json.loads(out)


def test_two_claimers_in_separate_processes_never_claim_the_same_run(experiment):
    ids = submit_runs(experiment, "tiny_popularity", seeds=list(range(20)))
    a, b = _start_claimer("a"), _start_claimer("b")
    claimed_a, claimed_b = _claimed(a), _claimed(b)
    assert sorted(claimed_a + claimed_b) == ids
    assert not set(claimed_a) & set(claimed_b)


def test_a_claim_waits_for_another_writer_holding_the_database(experiment, coldstart_home):
    (run_id,) = submit_runs(experiment, "tiny_popularity")
    with hold_write_lock(coldstart_home):
        claimer = _start_claimer("a")
        with pytest.raises(subprocess.TimeoutExpired):
            claimer.wait(timeout=4.0)  # blocked by the other writer, not failed
    assert _claimed(claimer) == [run_id]


def test_cancel_ends_a_queued_run_and_flags_a_running_one(experiment):
    queued, running = submit_runs(experiment, "tiny_popularity", seeds=[0, 1])
    claim_next_run("w", "cpu")  # claims `queued` (the oldest)
    assert cancel_run(running) == "cancelled"
    assert cancel_run(queued) == "running"
    assert run_status(queued).cancel_requested
    assert finish_run(queued, "cancelled", message="cancelled")
    with pytest.raises(JobError, match="already cancelled"):
        cancel_run(queued)


def test_a_final_state_is_never_overwritten_by_a_late_writer(experiment):
    (run_id,) = submit_runs(experiment, "tiny_popularity")
    claim_next_run("w", "cpu")
    assert finish_run(run_id, "failed", error="boom")
    assert not finish_run(run_id, "cancelled")
    assert run_status(run_id).status == "failed"


def test_rerun_queues_a_copy_and_refuses_active_runs(experiment):
    (run_id,) = submit_runs(experiment, "tiny_popularity", {"epochs": 4}, seeds=[7])
    with pytest.raises(JobError, match="still queued"):
        rerun_run(run_id)
    claim_next_run("w", "cpu")
    finish_run(run_id, "failed", error="boom")
    copy = run_status(rerun_run(run_id))
    assert (copy.status, copy.model, copy.seed, copy.params["epochs"]) == ("queued", "tiny_popularity", 7, 4)


def test_delete_removes_the_run_and_its_artifact_but_refuses_a_running_one(experiment):
    keep, gone = submit_runs(experiment, "tiny_popularity", seeds=[0, 1])
    claim_next_run("w", "cpu")
    with pytest.raises(JobError, match="cancel it first"):
        delete_run(keep)
    get_settings().run_dir(gone).mkdir(parents=True)
    delete_run(gone)
    assert [run.id for run in list_runs(experiment)] == [keep]
    assert not get_settings().run_dir(gone).exists()
    with pytest.raises(JobError, match="does not exist"):
        delete_run(gone)


def test_submitting_a_run_that_stands_again_queues_nothing_and_names_it_with_a_free_seed(experiment):
    (done,) = submit_runs(experiment, "tiny_popularity", {"epochs": 3})
    claim_next_run("w", "cpu")
    with pytest.raises(DuplicateRunError) as refused:
        submit_runs(experiment, "tiny_popularity", {"epochs": 3}, seeds=[0, 1])
    assert [(r.id, r.seed, r.status) for r in refused.value.existing] == [(done, 0, "running")]
    assert str(refused.value).startswith(f"Run #{done} (tiny_popularity, seed 0) already exists (running)")
    assert refused.value.free_seeds == [1, 2]
    assert [run.id for run in list_runs(experiment)] == [done]
    # the same model with other settings, or on the suggested seeds, is a different run
    assert len(submit_runs(experiment, "tiny_popularity", {"epochs": 4})) == 1
    assert len(submit_runs(experiment, "tiny_popularity", {"epochs": 3}, seeds=refused.value.free_seeds)) == 2


def test_a_failed_or_cancelled_run_does_not_block_training_it_again(experiment):
    failed, cancelled = submit_runs(experiment, "tiny_popularity", seeds=[0, 1])
    claim_next_run("w", "cpu")
    finish_run(failed, "failed", error="boom")
    cancel_run(cancelled)
    again = submit_runs(experiment, "tiny_popularity", seeds=[0, 1])
    assert [run_status(run_id).status for run_id in again] == ["queued", "queued"]


def test_free_seeds_keep_the_free_ones_and_move_the_taken_ones_up():
    assert free_seeds([0], {0}) == [1]
    assert free_seeds([0, 1, 2], {0, 1}) == [2, 3, 4]
    assert free_seeds([0, 3], {0, 1}) == [2, 3]



def test_a_tuned_run_is_queued_with_its_budget_and_differs_from_the_untuned_one(coldstart_home):
    experiment = empty_experiment()
    (untuned,) = submit_runs(experiment, "ease")
    (tuned,) = submit_runs(experiment, "ease", tuning={"trials": 8})  # same model, settings and seed: not a duplicate
    assert run_status(untuned).tuning is None
    assert run_status(tuned).tuning == {"trials": 8, "minutes": None, "trial_seconds": None}
    with pytest.raises(DuplicateRunError):
        submit_runs(experiment, "ease", tuning={"trials": 8})
    with pytest.raises(JobError, match="tuning budget: a tuning budget of 0 trials is not enough"):
        submit_runs(experiment, "ease", seeds=[1], tuning={"trials": 0})
    with pytest.raises(JobError, match="queue it without a grid"):
        submit_runs(experiment, "ease", seeds=[1], tuning={"trials": 4}, grid={"l2": [1.0, 2.0]})
