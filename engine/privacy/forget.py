"""Forget a user: erase their interactions and attributes from a dataset, from the versions made from it, from the
experiments' split files, per-user results and served feedback, and mark every run trained on them.

The user is put on the forgotten list first, so every running server refuses them at once, before any file is
rewritten. Each file is rewritten to a new file and renamed into place, so a crash leaves it whole, old or new.
A run's model cannot be un-trained: such runs get `forgotten_data_at`, are shown as "trained on forgotten data"
and are not served again (their model still encodes the user); retrain to replace them.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd
from sqlalchemy import select

from engine.data.catalog import dataset_fingerprint, load_dataset
from engine.data.errors import DataError
from engine.privacy.ids import record_forgotten, user_hash
from engine.protocols.folders import PART_FILES, REVEALED_FILES
from engine.runs.results import PER_USER_FILE, TOP_K_FILE
from engine.settings import get_settings
from engine.store.db import session_scope
from engine.store.journal import feedback_journal
from engine.store.tables import DatasetRow, ExperimentRow, ForgottenUserRow, RunRow, utcnow

TRAINING_PARTS = ("train", "valid", *REVEALED_FILES)
"""Split files a model learns or is early-stopped from: a user in one of them is in the run's model."""


@dataclass
class ForgetReport:
    """What forgetting one user removed, by place, and which runs were trained on them."""

    user_hash: str
    datasets: list[int]
    interactions: int = 0
    attributes: int = 0
    split_rows: int = 0
    per_user_rows: int = 0
    feedback: int = 0
    runs_marked: list[int] = field(default_factory=list)

    def describe(self) -> str:
        """One line for the CLI and the page."""
        return (f"forgot user {self.user_hash} in dataset(s) {', '.join(map(str, self.datasets))}: "
                f"{self.interactions} interactions, {self.attributes} attribute rows, {self.split_rows} split rows, "
                f"{self.per_user_rows} per-user result rows, {self.feedback} feedback events removed; "
                + (f"runs trained on them: {', '.join(map(str, self.runs_marked))}" if self.runs_marked
                   else "no run was trained on them"))


def _replace_parquet(path: Path, frame: pd.DataFrame) -> None:
    staging = path.with_name(f".{path.name}.forget")
    frame.to_parquet(staging, index=False)
    with open(staging, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(staging, path)


def _drop_user(path: Path, user_id: str) -> int:
    """Remove the user's rows from one Parquet file with a `user_id` column; returns how many."""
    if not path.is_file():
        return 0
    frame = pd.read_parquet(path)
    if "user_id" not in frame.columns:
        return 0
    mine = frame["user_id"].astype(str) == user_id
    if mine.any():
        _replace_parquet(path, frame.loc[~mine])
    return int(mine.sum())


def _lineage(session, dataset_id: int) -> list[DatasetRow]:
    """The dataset and every version made from it, transitively."""
    root = session.get(DatasetRow, int(dataset_id))
    if root is None:
        raise DataError(f"There is no dataset with id {dataset_id}", "forget", "Pick a dataset from the list")
    rows, frontier = [root], [root.id]
    while frontier:
        children = session.scalars(select(DatasetRow).where(DatasetRow.parent_id.in_(frontier))).all()
        rows += children
        frontier = [child.id for child in children]
    return rows


def _erase_from_dataset(row: DatasetRow, user_id: str, report: ForgetReport) -> None:
    folder = get_settings().home / row.path
    report.interactions += _drop_user(folder / "interactions.parquet", user_id)
    report.attributes += _drop_user(folder / "users.parquet", user_id)
    dataset = load_dataset(row.id)
    frame = dataset.interactions
    row.n_users, row.n_items = int(frame["user_id"].nunique()), int(frame["item_id"].nunique())
    row.n_interactions, row.fingerprint = len(frame), dataset_fingerprint(dataset)


def _erase_from_experiment(experiment: ExperimentRow, user_id: str, report: ForgetReport) -> bool:
    """Remove the user from the split files; whether they were in a part models learn from."""
    folder = get_settings().home / experiment.split_path
    trained_on = False
    for part in (*PART_FILES, *REVEALED_FILES):
        removed = _drop_user(folder / f"{part}.parquet", user_id)
        report.split_rows += removed
        trained_on |= removed > 0 and part in TRAINING_PARTS
    meta_path = folder / "split.json"
    if meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        if user_id in meta.get("cold_users", []):
            meta["cold_users"] = [u for u in meta["cold_users"] if u != user_id]
            staging = meta_path.with_name(".split.json.forget")
            staging.write_text(json.dumps(meta, indent=1, default=str))
            os.replace(staging, meta_path)
    return trained_on


def _erase_from_run(run: RunRow, user_id: str, report: ForgetReport) -> None:
    folder = get_settings().run_dir(run.id)
    for kept in (PER_USER_FILE, TOP_K_FILE):  # per-user metric values and the user's top-K lists
        report.per_user_rows += _drop_user(folder / kept, user_id)
    report.feedback += feedback_journal(run.id).rewrite(
        lambda record: str(record.get("user_id")) != user_id)


def forget_user(dataset_id: int, user_id: str) -> ForgetReport:
    """Erase `user_id` from dataset `dataset_id` and everything made from it; a `DataError` when it has no trace of
    them (an unknown id, or one forgotten already)."""
    user_id = str(user_id)
    hashed = user_hash(user_id)
    with session_scope() as session:
        datasets = _lineage(session, dataset_id)
        experiments = [e for d in datasets for e in d.experiments]
        runs = [r for e in experiments for r in e.runs]
        if not _has_trace(datasets, runs, user_id):
            already = session.scalar(select(ForgottenUserRow.id).where(ForgottenUserRow.dataset_id == dataset_id,
                                                                       ForgottenUserRow.user_hash == hashed))
            raise DataError(f"User '{user_id}' is not in dataset '{datasets[0].name}' nor in its served feedback"
                            + (" (forgotten already)" if already is not None else ""), "user_id",
                            "Check the id: user ids are matched exactly, as text")
        record_forgotten([d.id for d in datasets], hashed)  # servers refuse the user from now on
        report = ForgetReport(hashed, [d.id for d in datasets])
        for dataset in datasets:
            _erase_from_dataset(dataset, user_id, report)
        now = utcnow()
        for experiment in experiments:
            trained_on = _erase_from_experiment(experiment, user_id, report)
            for run in experiment.runs:
                _erase_from_run(run, user_id, report)
                if trained_on and run.status == "done":
                    run.forgotten_data_at = now
                    report.runs_marked.append(run.id)
        for dataset in datasets:
            session.add(ForgottenUserRow(dataset_id=dataset.id, user_hash=hashed, forgotten_at=now,
                                         removed=asdict(report)))
    return report


def _has_trace(datasets: list[DatasetRow], runs: list[RunRow], user_id: str) -> bool:
    """Whether the user is in any of the datasets' tables or the runs' served feedback."""
    home = get_settings().home
    for dataset in datasets:
        for table in ("interactions", "users"):
            path = home / dataset.path / f"{table}.parquet"
            if path.is_file() and (pd.read_parquet(path, columns=["user_id"])["user_id"].astype(str) == user_id).any():
                return True
    return any(str(record.get("user_id")) == user_id for run in runs
               for record in feedback_journal(run.id).records())


def runs_on_forgotten_data(run_ids: list[int] | None = None) -> dict[int, str]:
    """Run id -> when a user it was trained on was forgotten (ISO date and time), for the pages' notices."""
    query = select(RunRow.id, RunRow.forgotten_data_at).where(RunRow.forgotten_data_at.is_not(None))
    if run_ids is not None:
        query = query.where(RunRow.id.in_([int(r) for r in run_ids]))
    with session_scope() as session:
        return {run_id: f"{at:%Y-%m-%d %H:%M} UTC" for run_id, at in session.execute(query)}
