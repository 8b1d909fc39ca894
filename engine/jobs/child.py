"""A run's own process (`python -m engine.jobs.child RUN_ID`): train, evaluate, and record in one transaction.

The child loads the experiment's dataset and split, fits the model from the registry with progress written to the
database, evaluates it with the runner, writes the model artifact to a `.partial` folder, and then, in ONE write
transaction, moves the folder into place and records metrics and state. A run is therefore never "done" with partial
results: a failure anywhere (including a cancel that lands while the run is finishing) removes the artifact and
ends the run failed or cancelled with a readable reason; the traceback is kept for the details view.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import sys
import traceback
from pathlib import Path

from engine.jobs.progress import RunProgress
from engine.jobs.queue import finish_run, get_run
from engine.jobs.transactions import immediate_session, with_lock_retry
from engine.settings import get_settings
from engine.store.tables import RunRow, utcnow

EXIT_DONE, EXIT_FAILED, EXIT_CANCELLED = 0, 1, 3


class RunCancelled(Exception):
    """The run was asked to stop; it ends "cancelled" with nothing recorded."""


def failure_reason(error: BaseException) -> str:
    """One readable sentence for the run list; the traceback goes to the details view."""
    import torch

    if isinstance(error, (torch.OutOfMemoryError, MemoryError)):
        where = "GPU" if isinstance(error, torch.OutOfMemoryError) else "main"
        return (f"out of {where} memory while training or evaluating; lower the batch size or the embedding size, "
                "or train on a smaller dataset")
    if isinstance(error, OSError) and error.errno == errno.ENOSPC:
        return (f"the disk is full: the model could not be saved under {get_settings().artifacts_dir}; "
                "free some space and re-run")
    text = str(error).strip() or "no details"
    return f"{type(error).__name__}: {text}"


def _record_device(run_id: int, device_label: str) -> None:
    def write() -> None:
        with immediate_session() as session:
            row = session.get(RunRow, run_id, with_for_update=True)
            if row is not None and row.status == "running":
                row.device = device_label

    with_lock_retry(write)


def _save_artifact(run_id: int, model) -> Path:
    """Write the model to `run-<id>.partial/`; it becomes `run-<id>/` only with the final transaction."""
    partial = get_settings().run_dir(run_id).with_name(f"run-{run_id}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    model.save(partial)
    return partial


def _record_done(run_id: int, result, partial: Path, progress: RunProgress) -> bool:
    """Record results and publish the artifact in one transaction; False when a cancel got there first."""
    from engine.runs.results import record_run_result

    final = get_settings().run_dir(run_id)

    def write() -> bool:
        with immediate_session() as session:
            row = session.get(RunRow, run_id, with_for_update=True)
            if row is None or row.status != "running" or row.cancel_requested or progress.should_stop():
                return False
            shutil.rmtree(final, ignore_errors=True)
            partial.rename(final)
            try:
                record_run_result(session, row, result)
                row.status, row.progress, row.message = "done", 1.0, "done"
                row.finished_at = row.heartbeat_at = utcnow()
            except BaseException:
                final.rename(partial)  # the rollback that follows must leave no published artifact
                raise
            return True

    return with_lock_retry(write)


def execute_run(run_id: int) -> int:
    """Run `run_id` to a final state in this process; returns the process exit code."""
    progress = RunProgress(run_id).start()
    # SIGTERM (cancel from the supervisor) becomes a cooperative stop the training loop sees at its next step
    signal.signal(signal.SIGTERM, lambda *_: progress.cancel.set())
    try:
        run = get_run(run_id)
        from engine.data.catalog import load_dataset
        from engine.runs.experiments import get_experiment, load_split
        from engine.runs.runner import StopRequested, fit_and_evaluate
        from engine.training.device import describe_device, pick_device

        experiment = get_experiment(run.experiment_id)
        dataset_id = experiment.dataset_id
        progress.log(f"loading dataset {dataset_id} and the split of experiment {run.experiment_id}")
        dataset = load_dataset(dataset_id)
        split = load_split(run.experiment_id)
        device = pick_device()
        _record_device(run_id, describe_device(device))
        tuning, start_from = _tuning_plan(run.tuning, dataset_id, experiment.protocol, run.model)
        progress.log(f"{'tuning' if tuning else 'training'} {run.model} (seed {run.seed}) on "
                     f"{describe_device(device)}" + (f" with {tuning.describe()}" if tuning else ""))
        try:
            result = fit_and_evaluate(dataset, split, run.model, dict(run.params), run.seed, progress=progress,
                                      device=device, tuning=tuning, start_from=start_from)
        except StopRequested:
            raise RunCancelled from None
        if progress.should_stop():
            raise RunCancelled
        progress.log("saving the model and recording results")
        partial = _save_artifact(run_id, result.model)
        progress.close()
        if not _record_done(run_id, result, partial, progress):
            raise RunCancelled
        return EXIT_DONE
    except (RunCancelled, KeyboardInterrupt):  # KeyboardInterrupt: how Ray cancels a running task
        progress.close()
        finish_run(run_id, "cancelled", message="cancelled")
        return EXIT_CANCELLED
    except BaseException as error:
        progress.close()
        trace = traceback.format_exc()
        print(trace, file=sys.stderr)
        if progress.should_stop():
            finish_run(run_id, "cancelled", message="cancelled")
            return EXIT_CANCELLED
        finish_run(run_id, "failed", message="failed", error=failure_reason(error), traceback=trace)
        return EXIT_FAILED


def _tuning_plan(budget: dict | None, dataset_id: int, protocol: str, model: str):
    """The run's tuning budget and the best settings known on its dataset and protocol; (None, None) untuned."""
    if not budget:
        return None, None
    from engine.runs.tuning import TuningBudget
    from engine.runs.tuning_store import best_known_settings

    return TuningBudget.from_json(budget), best_known_settings(dataset_id, protocol, model)


def preload() -> None:
    """Import what every run needs (torch, data, protocols, evaluation) before a run is handed over.

    A warm child does this while it waits, so a claimed run starts training without paying for the imports.
    torch's optimizers import its compiler front end (`torch._dynamo`) on their first step: about 2 s on an idle
    machine and 10 s on a loaded one, paid by every gradient model's run, as is the training loop's compiled kernels'
    numba.
    """
    import torch._dynamo  # noqa: F401  (imported for its side effect: loaded modules stay loaded)

    import engine.data.catalog  # noqa: F401
    import engine.runs.experiments  # noqa: F401
    import engine.runs.results  # noqa: F401
    import engine.runs.runner  # noqa: F401
    import engine.training.loop  # noqa: F401


def _log_to_run_file(run_id: int) -> None:
    """Send this process's output to `logs/run-<id>.log` once it knows which run it is."""
    logs = get_settings().home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with open(logs / f"run-{run_id}.log", "ab") as log:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(log.fileno(), sys.stdout.fileno())
        os.dup2(log.fileno(), sys.stderr.fileno())


def main(argv: list[str] | None = None) -> int:
    """`python -m engine.jobs.child RUN_ID`, or `--warm`: preload, then read the run id from stdin."""
    args = sys.argv[1:] if argv is None else argv
    if args == ["--warm"]:
        preload()
        line = sys.stdin.readline().strip()
        if not line.isdigit():
            return 0  # the supervisor went away (or shut down) before it had a run for us
        _log_to_run_file(int(line))
        return execute_run(int(line))
    if len(args) != 1 or not args[0].isdigit():
        print("usage: python -m engine.jobs.child RUN_ID (a run id from the runs table) | --warm", file=sys.stderr)
        return 2
    return execute_run(int(args[0]))


if __name__ == "__main__":
    exit_code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # the result is committed; skipping interpreter teardown (seconds with torch loaded) frees the slot sooner
    os._exit(exit_code)
