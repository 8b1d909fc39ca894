"""Progress written by a run's child: batched into few writes, every epoch kept, cancel picked up on the way."""

from __future__ import annotations

import pytest

from engine.jobs.progress import RunProgress, format_seconds, training_fraction
from engine.jobs.queue import cancel_run, claim_next_run, run_events, submit_runs
from jobs_support import empty_experiment, register_fault_models, run_status


@pytest.fixture
def running_run(coldstart_home, monkeypatch) -> int:
    register_fault_models(monkeypatch)
    (run_id,) = submit_runs(empty_experiment(), "tiny_popularity")
    claim_next_run("w", "cpu")
    return run_id


def test_training_fraction_counts_finished_epochs_and_the_step_within_the_current_one():
    assert training_fraction(1, 4) == 0.25
    assert training_fraction(2, 4, step=1, n_steps=2) == pytest.approx(0.375)
    assert training_fraction(9, 4) == 1.0
    assert format_seconds(42) == "42 s" and format_seconds(185) == "3 min 05 s" and format_seconds(3720) == "1 h 02 min"


def test_many_reports_become_one_write_keeping_every_epoch_but_only_the_latest_step(running_run):
    progress = RunProgress(running_run)
    for epoch in (1, 2):
        for step in range(1, 101):
            progress.report(epoch=epoch, n_epochs=4, step=step, n_steps=100, loss=1.0 / step)
        progress.report(epoch=epoch, n_epochs=4, loss=0.5 / epoch, metric=0.1 * epoch)
    progress.report(epoch=3, n_epochs=4, step=50, n_steps=100, loss=0.2)
    progress.log("still going")
    progress.write()
    events = run_events([running_run])
    assert list(events["kind"]) == ["progress"] * 5 + ["log"]
    epochs = events[events["step"].isna() & (events["kind"] == "progress")]
    assert list(epochs["epoch"]) == [1, 2] and list(epochs["metric"]) == pytest.approx([0.1, 0.2])
    row = run_status(running_run)
    assert row.progress == pytest.approx(2.5 / 4)
    assert row.message == "still going" and row.heartbeat_at is not None


def test_a_cancel_from_the_page_reaches_should_stop_at_the_next_write(running_run):
    progress = RunProgress(running_run)
    progress.write()
    assert not progress.should_stop()
    cancel_run(running_run)
    progress.write()
    assert progress.should_stop()


def test_events_survive_a_write_that_fails_and_go_out_with_the_next_one(running_run, monkeypatch):
    import engine.jobs.progress as progress_module

    real = progress_module.with_lock_retry

    def fail_once(work):
        monkeypatch.setattr(progress_module, "with_lock_retry", real)
        raise RuntimeError("database is locked")

    monkeypatch.setattr(progress_module, "with_lock_retry", fail_once)
    progress = RunProgress(running_run)
    progress.report(epoch=1, n_epochs=2, loss=0.3)
    with pytest.raises(RuntimeError, match="locked"):
        progress.write()
    progress.report(epoch=2, n_epochs=2, loss=0.2)
    progress.write()
    assert list(run_events([running_run])["epoch"]) == [1, 2]
    assert run_status(running_run).progress == 1.0
