"""Record a finished run in the database and its artifact folder: one function for the CLI and the job system.

Aggregates go to `MetricRow` (long format, one row per slice and metric, filterable with SQL) and to the run's
`results` JSON; per-user values go to `per_user.parquet` in the run's artifact folder, read back by the Compare page.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import delete
from sqlalchemy.orm import Session

from engine.config import get_settings
from engine.runner import RunResult
from engine.store.tables import MetricRow, RunRow

PER_USER_FILE = "per_user.parquet"


def run_folder(run_id: int) -> Path:
    """The artifact folder of a run: `artifacts_dir/run-<id>/`."""
    return get_settings().artifacts_dir / f"run-{run_id}"


def record_run_result(session: Session, run_row: RunRow, result: RunResult) -> None:
    """Write `result` onto `run_row` (results, seconds, device, artifact path), its metric rows, and the per-user
    Parquet file. Replaces earlier metric rows of the run, so recording twice leaves one set."""
    if run_row.id is None:
        session.flush()
    folder = run_folder(run_row.id)
    folder.mkdir(parents=True, exist_ok=True)
    result.per_user.to_parquet(folder / PER_USER_FILE, index=False)
    run_row.results = result.results
    run_row.fit_seconds = result.fit_seconds
    run_row.eval_seconds = result.eval_seconds
    run_row.device = result.results.get("device", run_row.device)
    run_row.artifact_path = str(folder.relative_to(get_settings().home))
    session.execute(delete(MetricRow).where(MetricRow.run_id == run_row.id))
    for slice_name, metrics in result.results["slices"].items():
        if "not_applicable" in metrics:
            continue
        for name, value in metrics.items():
            ci = value.get("ci") or (None, None)
            session.add(MetricRow(run_id=run_row.id, slice=slice_name, name=name, mean=value.get("mean"),
                                  ci_low=ci[0], ci_high=ci[1], n_users=int(value.get("n_users") or 0)))
