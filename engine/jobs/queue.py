"""The run queue: the `runs` table is the queue and the source of truth for every run's state.

States: queued -> running -> done | failed | cancelled; queued -> cancelled. Only this module and the run's own
child process move a run between states, always in a write transaction that checks the state it expects, so a
late writer (a cancel racing the final commit, a supervisor reaping a child that already finished) cannot undo
a final state.
"""

from __future__ import annotations

import itertools
import shutil
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from sqlalchemy import delete, select, update

from engine.jobs.transactions import immediate_session, with_lock_retry
from engine.settings import get_settings
from engine.store.db import session_scope
from engine.store.tables import ExperimentRow, RunEventRow, RunRow, utcnow

if TYPE_CHECKING:
    import pandas as pd

ACTIVE_STATES = ("queued", "running")
FINAL_STATES = ("done", "failed", "cancelled")
STANDING_STATES = ("queued", "running", "done")
"""States in which a run makes another with the same experiment, model, hyper-parameters and seed a duplicate."""
MAX_RUNS_PER_SUBMIT = 48
"""A grid larger than this is almost surely a typo; it would also hold the queue for hours."""


class JobError(ValueError):
    """A request the queue refuses, with a message that says what to do instead."""


@dataclass(frozen=True)
class ExistingRun:
    """A standing run that a submission would have duplicated."""

    id: int
    model: str
    seed: int
    status: str

    def describe(self) -> str:
        """One line, e.g. Run #3 (als, seed 0) already exists (done)."""
        return f"Run #{self.id} ({self.model}, seed {self.seed}) already exists ({self.status})"


class DuplicateRunError(JobError):
    """Some of the runs asked for already stand; nothing was queued. `free_seeds` can be queued instead."""

    def __init__(self, existing: list[ExistingRun], free_seeds: list[int]) -> None:
        self.existing = existing
        self.free_seeds = free_seeds
        super().__init__(f"{'; '.join(run.describe() for run in existing)}: to train again, queue seed"
                         f"{'s' if len(free_seeds) > 1 else ''} {', '.join(map(str, free_seeds))} instead")


@dataclass(frozen=True)
class ClaimedRun:
    """What a supervisor needs to launch a run it has just claimed."""

    id: int
    experiment_id: int
    model: str
    slot: str


def remove_run_artifact(run_id: int) -> None:
    """Delete a run's artifact folder (and a half-written one beside it) if present."""
    folder = get_settings().run_dir(run_id)
    for path in (folder, folder.with_name(folder.name + ".partial")):
        shutil.rmtree(path, ignore_errors=True)


def expand_grid(grid: dict[str, list[Any]] | None) -> list[dict[str, Any]]:
    """Every combination of the values in `grid` (a small hyper-parameter grid); one empty dict when none."""
    if not grid:
        return [{}]
    empty = [name for name, values in grid.items() if not values]
    if empty:
        raise JobError(f"grid values for {', '.join(empty)} are empty: give at least one value or drop the field")
    names = list(grid)
    return [dict(zip(names, combo)) for combo in itertools.product(*(grid[n] for n in names))]


def parse_seeds(text: str) -> list[int]:
    """Seeds from "0" or "0, 1, 2" or "0-4"; a JobError says what was wrong."""
    seeds: list[int] = []
    for part in (p.strip() for p in text.replace(";", ",").split(",")):
        if not part:
            continue
        try:
            if "-" in part[1:]:
                low, high = (int(x) for x in part.split("-", 1))
                if high < low:
                    raise ValueError
                seeds.extend(range(low, high + 1))
            else:
                seeds.append(int(part))
        except ValueError:
            raise JobError(f"seed {part!r} is not a whole number or a range like 0-4") from None
    if not seeds:
        raise JobError("give at least one seed, e.g. 0 or 0, 1, 2")
    return list(dict.fromkeys(seeds))


def _validated_params(model: str, params: dict[str, Any]) -> dict[str, Any]:
    """The model's full typed config for `params`, as JSON, or a JobError naming the bad field."""
    # imported here: claiming and reading runs (supervisors, the page's live view) never needs torch
    from engine.models.registry import UnknownModelError, get_model_class

    try:
        cls = get_model_class(model)
    except UnknownModelError as error:
        raise JobError(str(error)) from None
    try:
        return cls.Config(**params).model_dump(mode="json")
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'config'}: {e['msg']}" for e in error.errors())
        raise JobError(f"invalid hyper-parameters for {cls.label}: {problems}") from None


def free_seeds(wanted: list[int] | tuple[int, ...], taken: set[int]) -> list[int]:
    """`wanted` with every seed in `taken` replaced by the next seed above it that is neither taken nor wanted."""
    chosen = [seed for seed in wanted if seed not in taken]
    for seed in wanted:
        if seed in taken:
            candidate = seed + 1
            while candidate in taken or candidate in chosen:
                candidate += 1
            chosen.append(candidate)
    return sorted(chosen)


def _standing_runs(session, experiment_id: int, model: str, configs: list[dict[str, Any]],
                   tuning: dict[str, Any] | None) -> list[ExistingRun]:
    """Standing runs of `model` on the experiment with one of `configs` and the same tuning, oldest first."""
    rows = session.scalars(select(RunRow).where(RunRow.experiment_id == experiment_id, RunRow.model == model,
                                                RunRow.status.in_(STANDING_STATES)).order_by(RunRow.id))
    return [ExistingRun(row.id, row.model, row.seed, row.status) for row in rows
            if row.params in configs and row.tuning == tuning]


def _validated_tuning(tuning: dict[str, Any] | None, grid: dict[str, list[Any]] | None) -> dict[str, Any] | None:
    """A tuning budget as stored on the run (a TuningBudget's JSON), or a JobError saying what is wrong with it."""
    if tuning is None:
        return None
    if grid:
        raise JobError("a tuned run searches the model's whole space itself: queue it without a grid of values")
    from engine.runs.tuning import TuningBudget, TuningError  # imported here: only submitting a tuned run needs optuna

    try:
        return TuningBudget.from_json(tuning).to_json()
    except (TuningError, TypeError) as error:
        raise JobError(f"tuning budget: {error}") from None


def submit_runs(experiment_id: int, model: str, params: dict[str, Any] | None = None,
                seeds: list[int] | tuple[int, ...] = (0,), grid: dict[str, list[Any]] | None = None,
                tuning: dict[str, Any] | None = None) -> list[int]:
    """Queue one run per seed and grid point of `model` on an experiment; returns the new run ids in order.

    Parameters are validated against the model's typed config now, so a typo fails here and not in a worker. With
    `tuning` (a `TuningBudget` as JSON, e.g. {"trials": 16}) each run searches the model's space on the validation
    slice within that budget instead of using `params`. When any of the runs already stands, nothing is queued and
    `DuplicateRunError` names the standing runs and the seeds that are free; the check and the insert share one
    write transaction, so concurrent submissions cannot both pass.
    """
    if not seeds:
        raise JobError("no seeds given: pass at least one seed, e.g. [0]")
    tuning = _validated_tuning(tuning, grid)
    combos = expand_grid(grid)
    if len(combos) * len(seeds) > MAX_RUNS_PER_SUBMIT:
        raise JobError(f"{len(combos)} grid points x {len(seeds)} seeds = {len(combos) * len(seeds)} runs, more than "
                       f"{MAX_RUNS_PER_SUBMIT}: narrow the grid or use fewer seeds")
    configs = [_validated_params(model, {**(params or {}), **combo}) for combo in combos]

    def write() -> list[int]:
        with immediate_session() as session:
            # the experiment's row lock serializes submissions to it on PostgreSQL (SQLite: the write lock)
            if session.get(ExperimentRow, experiment_id, with_for_update=True) is None:
                raise JobError(f"experiment {experiment_id} does not exist: create it on the Experiments page first")
            standing = _standing_runs(session, experiment_id, model, configs, tuning)
            duplicates = [run for run in standing if run.seed in seeds]
            if duplicates:
                raise DuplicateRunError(duplicates, free_seeds(seeds, {run.seed for run in standing}))
            rows = [RunRow(experiment_id=experiment_id, model=model, params=config, seed=int(seed), status="queued",
                           tuning=tuning) for config in configs for seed in seeds]
            session.add_all(rows)
            session.flush()
            return [row.id for row in rows]

    return with_lock_retry(write)


def claim_next_run(worker_id: str, slot: str) -> ClaimedRun | None:
    """Atomically take the oldest queued run for `worker_id` on device `slot`; None when the queue is empty."""
    with session_scope() as session:
        # an empty queue is the common case: answer it with a read, without taking the write lock
        if session.scalar(select(RunRow.id).where(RunRow.status == "queued").limit(1)) is None:
            return None

    def claim() -> ClaimedRun | None:
        with immediate_session() as session:
            row = session.scalars(select(RunRow).where(RunRow.status == "queued").order_by(RunRow.id).limit(1)
                                  .with_for_update(skip_locked=True)).first()
            if row is None:
                return None
            now = utcnow()
            row.status, row.worker_id, row.device = "running", worker_id, slot
            row.started_at, row.heartbeat_at, row.finished_at = now, now, None
            row.progress, row.message, row.error, row.traceback = 0.0, "starting", None, None
            return ClaimedRun(id=row.id, experiment_id=row.experiment_id, model=row.model, slot=slot)

    return with_lock_retry(claim)


def set_run_pid(run_id: int, pid: int) -> None:
    """Record the child process of a running run (for cancelling it and for spotting a dead one)."""
    def write() -> None:
        with session_scope() as session:
            session.execute(update(RunRow).where(RunRow.id == run_id).values(pid=pid))

    with_lock_retry(write)


def finish_run(run_id: int, status: str, *, message: str = "", error: str | None = None,
               traceback: str | None = None) -> bool:
    """Move a running run to a final state (without results); False when it had already left "running"."""
    if status not in FINAL_STATES:
        raise JobError(f"{status!r} is not a final state; use one of {', '.join(FINAL_STATES)}")

    def write() -> bool:
        with immediate_session() as session:
            row = session.get(RunRow, run_id, with_for_update=True)
            if row is None or row.status != "running":
                return False
            row.status, row.message, row.error, row.traceback = status, message, error, traceback
            row.finished_at = utcnow()
            return True

    moved = with_lock_retry(write)
    if moved:
        remove_run_artifact(run_id)
    return moved


def cancel_run(run_id: int) -> str:
    """Cancel a queued run at once, or ask a running one to stop; returns the run's state afterwards."""
    def write() -> str:
        with immediate_session() as session:
            row = _existing_run(session, run_id, lock=True)
            if row.status == "queued":
                row.status, row.message, row.finished_at = "cancelled", "cancelled before it started", utcnow()
            elif row.status == "running":
                row.cancel_requested, row.message = True, "cancelling"
            else:
                raise JobError(f"run {run_id} is already {row.status}; only queued or running runs can be cancelled")
            return row.status

    return with_lock_retry(write)


def rerun_run(run_id: int) -> int:
    """Queue a fresh run with the same experiment, model, hyper-parameters and seed; returns its id."""
    def write() -> int:
        with session_scope() as session:
            row = _existing_run(session, run_id)
            if row.status in ACTIVE_STATES:
                raise JobError(f"run {run_id} is still {row.status}; re-run it once it has finished")
            fresh = RunRow(experiment_id=row.experiment_id, model=row.model, params=dict(row.params), seed=row.seed,
                           tuning=row.tuning)
            session.add(fresh)
            session.flush()
            return fresh.id

    return with_lock_retry(write)


def delete_run(run_id: int) -> None:
    """Delete a finished or queued run with its metrics, events and artifact folder."""
    def write() -> None:
        with immediate_session() as session:
            row = _existing_run(session, run_id, lock=True)
            if row.status == "running":
                raise JobError(f"run {run_id} is running: cancel it first, then delete it")
            session.execute(delete(RunRow).where(RunRow.id == run_id))

    with_lock_retry(write)
    remove_run_artifact(run_id)


def _existing_run(session, run_id: int, lock: bool = False) -> RunRow:
    """The run's row (locked against other writers until the transaction ends when `lock`), or a JobError."""
    row = session.get(RunRow, run_id, with_for_update=lock)
    if row is None:
        raise JobError(f"run {run_id} does not exist (it may have been deleted); refresh the page")
    return row


def list_runs(experiment_id: int | None = None) -> list[RunRow]:
    """Runs, newest first, optionally of one experiment (detached rows, safe to read after the session)."""
    with session_scope() as session:
        query = select(RunRow).order_by(RunRow.id.desc())
        if experiment_id is not None:
            query = query.where(RunRow.experiment_id == experiment_id)
        return list(session.scalars(query))


def get_run(run_id: int) -> RunRow:
    """One run (detached), or a JobError when it does not exist."""
    with session_scope() as session:
        return _existing_run(session, run_id)


def run_events(run_ids: list[int]) -> pd.DataFrame:
    """Progress events and log lines of the given runs, oldest first, as a frame for charts and logs."""
    import pandas as pd  # here, so the supervisor starts without loading pandas

    columns = ["run_id", "at", "kind", "epoch", "n_epochs", "step", "n_steps", "loss", "metric", "message"]
    if not run_ids:
        return pd.DataFrame(columns=columns)
    with session_scope() as session:
        rows = session.execute(select(*(getattr(RunEventRow, c) for c in columns))
                               .where(RunEventRow.run_id.in_(run_ids)).order_by(RunEventRow.id)).all()
    return pd.DataFrame(rows, columns=columns)
