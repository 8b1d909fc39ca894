"""Record a finished run in the database and its artifact folder: one function for the CLI and the job system.

Aggregates go to `MetricRow` (long format, one row per slice and metric, filterable with SQL) and to the run's
`results` JSON; per-user values go to `per_user.parquet` and the top-K lists to `top_k.parquet` in the run's artifact
folder, both read back by the Compare page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from sqlalchemy import delete
from sqlalchemy.orm import Session

from engine.data.catalog import dataset_fingerprint, list_datasets, save_dataset
from engine.data.dataset import Dataset
from engine.metrics.document import RecordedRuns
from engine.protocols.split import Split
from engine.runs.experiments import store_experiment
from engine.runs.runner import RunResult
from engine.runs.tuning_store import best_known_settings, record_trials
from engine.settings import get_settings
from engine.store.db import session_scope
from engine.store.tables import MetricRow, RunRow, utcnow

if TYPE_CHECKING:
    from engine.runs.tuning import TuningBudget

PER_USER_FILE = "per_user.parquet"
TOP_K_FILE = "top_k.parquet"
CLI_WORKER = "cli"
"""The worker name of runs the command line makes and fits in its own process (no progress events)."""
"""Each test slice's top-K lists (`slice`, `user_id`, `item_id`, `rank`, `score`): what the exposure view reads."""


def record_run_result(session: Session, run_row: RunRow, result: RunResult) -> None:
    """Write `result` onto `run_row` (results, seconds, device, artifact path), its metric rows, and the per-user
    Parquet file, and the top-K lists. Replaces earlier metric rows of the run, so recording twice leaves one set."""
    if run_row.id is None:
        session.flush()
    folder = get_settings().run_dir(run_row.id)
    folder.mkdir(parents=True, exist_ok=True)
    result.per_user.to_parquet(folder / PER_USER_FILE, index=False)
    if result.recommendations:
        lists = pd.concat([frame.assign(slice=name) for name, frame in result.recommendations.items()],
                          ignore_index=True)
        lists[["slice", "user_id", "item_id", "rank", "score"]].to_parquet(folder / TOP_K_FILE, index=False)
    run_row.results = result.results.to_json()
    run_row.fit_seconds = result.fit_seconds
    run_row.eval_seconds = result.eval_seconds
    run_row.device = result.results.device
    run_row.artifact_path = str(folder.relative_to(get_settings().home))
    record_trials(session, run_row, result.results.tuning)
    session.execute(delete(MetricRow).where(MetricRow.run_id == run_row.id))
    for slice_name, metrics in result.results.served():
        for name, value in metrics.items():
            ci_low, ci_high = value.ci or (None, None)
            session.add(MetricRow(run_id=run_row.id, slice=slice_name, name=name, mean=value.mean,
                                  ci_low=ci_low, ci_high=ci_high, n_users=value.n_users))


@dataclass
class RunRecorder:
    """Records synchronous runs (the CLI's) like the job system does: dataset, experiment, one run per model."""

    dataset_id: int
    experiment_id: int
    run_ids: dict[str, int] = field(default_factory=dict)

    @classmethod
    def start(cls, dataset: Dataset, split: Split, source: str) -> "RunRecorder":
        """Reuse the stored dataset with the same content (or store it) and store the split as an experiment."""
        fingerprint = dataset_fingerprint(dataset)
        known = next((d for d in list_datasets() if d.fingerprint == fingerprint), None)
        if known is not None:
            dataset_id = known.id
        else:
            taken = {d.name.lower() for d in list_datasets()}
            name = Path(source).name or "command line"
            if name.lower() in taken:
                name = f"{name} ({fingerprint[:8]})"
            dataset_id = save_dataset(dataset, name, "cli", {"origin": source})
        experiment_id = store_experiment(dataset_id, split, f"cli {split.protocol} seed {split.seed}")
        return cls(dataset_id, experiment_id)

    def begin(self, model: str, params: dict, seed: int, tuning: TuningBudget | None = None) -> int:
        """A running run row for `model` (tuned with `tuning` when given); returns its id."""
        with session_scope() as session:
            row = RunRow(experiment_id=self.experiment_id, model=model, params=dict(params), seed=seed,
                         status="running", worker_id=CLI_WORKER, started_at=utcnow(),
                         tuning=tuning.to_json() if tuning is not None else None)
            session.add(row)
            session.flush()
            self.run_ids[model] = row.id
            return row.id

    def finish(self, run_id: int, result: RunResult) -> None:
        """Record the result and mark the run done, in one transaction."""
        with session_scope() as session:
            row = session.get(RunRow, run_id)
            record_run_result(session, row, result)
            row.status, row.progress, row.message, row.finished_at = "done", 1.0, "done", utcnow()

    def fail(self, run_id: int, reason: str) -> None:
        """Mark the run failed with a one-line reason."""
        with session_scope() as session:
            row = session.get(RunRow, run_id)
            row.status, row.message, row.error, row.finished_at = "failed", "failed", reason, utcnow()

    def best_known_settings(self, model: str, protocol: str) -> list[dict]:
        """Where a tuned run of `model` starts: the best settings known on this dataset and protocol."""
        return best_known_settings(self.dataset_id, protocol, model)

    def summary(self) -> RecordedRuns:
        """Where the runs were recorded (the `recorded` entry of results.json)."""
        return RecordedRuns(dataset_id=self.dataset_id, experiment_id=self.experiment_id, run_ids=dict(self.run_ids))
