"""Experiments: a stored dataset + protocol + parameters + seed, with the split saved as Parquet and its sizes.

Creating one is all-or-nothing: the split is written to a hidden staging folder and renamed into place inside the
database transaction, and any failure removes what was written.
"""

from __future__ import annotations

import io
import shutil
import tempfile
import uuid
import zipfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from engine.data.catalog import load_dataset
from engine.protocols import read_split_folder, split_sizes, write_split_folder
from engine.runs.protocol_catalog import make_split
from engine.protocols.split import Split
from engine.settings import get_settings
from engine.store.db import session_scope
from engine.store.tables import ExperimentRow


class ExperimentError(LookupError):
    """An experiment id that does not exist (deleted, or from another database)."""


@dataclass(frozen=True)
class ExperimentInfo:
    """What the app lists about an experiment without loading its split."""

    id: int
    name: str
    dataset_id: int
    protocol: str
    params: dict[str, Any]
    seed: int
    fingerprint: str
    sizes: dict[str, Any]
    created_at: datetime


def _info(row: ExperimentRow) -> ExperimentInfo:
    return ExperimentInfo(row.id, row.name, row.dataset_id, row.protocol, dict(row.params or {}), row.seed,
                          row.fingerprint, dict(row.sizes or {}), row.created_at)


def store_experiment(dataset_id: int, split: Split, name: str) -> int:
    """Save an already-made split as a new experiment of `dataset_id`; returns its id."""
    root = get_settings().splits_dir
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".incoming-", dir=root))
    final: Path | None = None
    try:
        write_split_folder(split, staging, "parquet")
        with session_scope() as session:
            row = ExperimentRow(name=name.strip() or f"{split.protocol} seed {split.seed}", dataset_id=dataset_id,
                                protocol=split.protocol, params=dict(split.params), seed=split.seed,
                                fingerprint=split.fingerprint, split_path="", sizes=split_sizes(split))
            session.add(row)
            session.flush()
            # a random suffix, because SQLite may reuse the id of a deleted experiment
            final = root / f"{row.id}-{uuid.uuid4().hex[:8]}"
            row.split_path = str(final.relative_to(get_settings().home))
            staging.rename(final)
            return row.id
    except BaseException:
        for folder in (staging, final):
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)
        raise


def create_experiment(dataset_id: int, protocol: str, params: dict[str, Any] | None, seed: int,
                      name: str = "") -> int:
    """Split stored dataset `dataset_id` with `protocol` and store the experiment; returns its id.

    Raises `ProtocolError` for an unknown protocol or bad parameters, `DataError` for an unknown dataset.
    """
    split = make_split(load_dataset(dataset_id), protocol, seed, params or {})
    return store_experiment(dataset_id, split, name)


def _row(session, experiment_id: int) -> ExperimentRow:
    row = session.get(ExperimentRow, experiment_id)
    if row is None:
        raise ExperimentError(f"experiment {experiment_id} does not exist; pick one from the list of experiments")
    return row


def get_experiment(experiment_id: int) -> ExperimentInfo:
    """The experiment's record."""
    with session_scope() as session:
        return _info(_row(session, experiment_id))


def list_experiments(dataset_id: int | None = None) -> list[ExperimentInfo]:
    """Experiments, newest first, optionally of one dataset."""
    query = select(ExperimentRow).order_by(ExperimentRow.id.desc())
    if dataset_id is not None:
        query = query.where(ExperimentRow.dataset_id == dataset_id)
    with session_scope() as session:
        return [_info(row) for row in session.scalars(query)]


def load_split(experiment_id: int) -> Split:
    """The stored split of an experiment, exactly as it was made (same fingerprint)."""
    with session_scope() as session:
        relative = _row(session, experiment_id).split_path
    return read_split_folder(get_settings().home / relative)


def export_split(experiment_id: int, folder: str | Path) -> Path:
    """Write the experiment's split as a CSV split folder (train/valid/test.csv + split.json) into `folder`."""
    return write_split_folder(load_split(experiment_id), folder, "csv")


def split_zip(experiment_id: int) -> bytes:
    """The exported split folder as a zip archive, for a download button."""
    with tempfile.TemporaryDirectory() as scratch:
        folder = export_split(experiment_id, Path(scratch) / "split")
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for file in sorted(folder.iterdir()):
                archive.write(file, arcname=file.name)
        return buffer.getvalue()
