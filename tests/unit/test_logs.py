"""Structured log lines: the worker says when a run is claimed, started, finished or failed, with its id and time."""

from __future__ import annotations

import logging
import re
import signal

from jobs_support import RecordingExecutor, empty_experiment, register_fault_models

from engine.cli.main import main
from engine.data.synthetic import generate_synthetic
from engine.jobs.queue import submit_runs
from engine.jobs.supervisor import Supervisor
from engine.logs import format_fields


def test_fields_are_key_value_pairs_quoted_only_where_a_split_would_break_them():
    assert format_fields({"run_id": 12, "seconds": 3.14159, "model": "bpr"}) == "run_id=12 seconds=3.14 model=bpr"
    assert format_fields({"error": 'bad "x" = 1', "note": ""}) == 'error="bad \\"x\\" = 1" note=""'


def test_the_worker_logs_each_run_claimed_started_and_failed_with_its_id_and_seconds(coldstart_home, monkeypatch,
                                                                                     caplog):
    register_fault_models(monkeypatch)
    (run_id,) = submit_runs(empty_experiment(), "tiny_popularity")
    executor = RecordingExecutor()
    supervisor = Supervisor(executor=executor, slots=["cpu"], runs_per_slot=1)
    with caplog.at_level(logging.INFO, logger="coldstart.supervisor"):
        supervisor.start()
        supervisor.tick()
        executor.exit_codes[run_id] = -signal.SIGKILL
        supervisor.tick()
    lines = [record.getMessage() for record in caplog.records]
    assert lines[0].startswith("worker_started worker=") and "slots=cpu runs_per_slot=1" in lines[0]
    assert lines[1] == f"run_claimed run_id={run_id} model=tiny_popularity slot=cpu"
    assert lines[2] == f"run_started run_id={run_id} model=tiny_popularity slot=cpu pid={10_000_000 + run_id}"
    event, *fields = lines[3].split(" ", 5)
    assert event == "run_failed" and fields[:3] == [f"run_id={run_id}", "model=tiny_popularity", "exit_code=-9"]
    assert fields[3].startswith("seconds=") and float(fields[3].split("=")[1]) >= 0
    assert fields[4].startswith("error=") and "SIGKILL" in fields[4]
    assert caplog.records[3].levelno == logging.WARNING


def test_the_cli_logs_each_run_it_fits_with_its_id_and_timings(tmp_path, coldstart_home, caplog):
    folder = tmp_path / "canonical"
    folder.mkdir()
    generate_synthetic(n_users=40, n_items=30, n_interactions=600, seed=1).interactions.to_csv(
        folder / "interactions.csv", index=False)
    with caplog.at_level(logging.INFO, logger="coldstart.cli"):
        code = main(["evaluate", "--data", str(folder), "--protocol", "warm", "--models", "random",
                     "--out", str(tmp_path / "results.json")])
    assert code == 0
    started, finished = (record.getMessage() for record in caplog.records if record.name == "coldstart.cli")
    assert started.startswith("run_started run_id=1 model=random dataset=") and "protocol=warm seed=" in started
    assert re.fullmatch(r"run_finished run_id=1 model=random fit_seconds=\d+\.\d\d eval_seconds=\d+\.\d\d", finished)
