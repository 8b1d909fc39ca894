"""The stored datasets: Parquet files under the data folder plus one database row each, kept in step.

Saving and deleting are all-or-nothing: files are written to a hidden temporary folder and only renamed into place
inside the database transaction, and any failure removes what was written, so a failed save leaves both the
database and the data folder as they were. `load_dataset` depends only on the id, so callers can cache it
(keyed by id and fingerprint).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from engine.data.dataset import Dataset, Feedback, described_sides
from engine.data.errors import DataError
from engine.settings import get_settings
from engine.store.db import session_scope
from engine.store.tables import DatasetRow

_TABLES = ("interactions", "items", "users")
MAX_NAME_LENGTH = 200


@dataclass(frozen=True)
class DatasetInfo:
    """What the catalogue knows about a stored dataset without loading its files."""

    id: int
    name: str
    source: str
    n_users: int
    n_items: int
    n_interactions: int
    fingerprint: str
    created_at: datetime
    feedback: Feedback
    details: dict[str, Any]
    item_kinds: dict[str, str] = field(default_factory=dict)
    user_kinds: dict[str, str] = field(default_factory=dict)

    def described_sides(self) -> tuple[str, ...]:
        """The sides ('user', 'item') with at least one attribute a model reads (not set to 'ignore')."""
        return described_sides(self.user_kinds, self.item_kinds)


def _info(row: DatasetRow) -> DatasetInfo:
    return DatasetInfo(row.id, row.name, row.source, row.n_users, row.n_items, row.n_interactions, row.fingerprint,
                       row.created_at, Feedback.from_json(row.feedback or {}), dict(row.details or {}),
                       dict(row.item_kinds or {}), dict(row.user_kinds or {}))


def dataset_fingerprint(dataset: Dataset) -> str:
    """sha256 of the canonical content (tables, kinds, feedback); row order does not matter."""
    digest = hashlib.sha256()
    for name in _TABLES:
        frame = getattr(dataset, name)
        if frame is None:
            continue
        columns = sorted(frame.columns)
        digest.update(json.dumps([name, columns, [str(frame[c].dtype) for c in columns]]).encode())
        row_hashes = pd.util.hash_pandas_object(frame[columns], index=False).to_numpy()
        digest.update(np.sort(row_hashes).tobytes())
    digest.update(json.dumps([dataset.item_kinds, dataset.user_kinds, dataset.feedback.to_json()],
                             sort_keys=True).encode())
    return digest.hexdigest()


def check_dataset_name(name: str, *, ignore_id: int | None = None) -> str:
    """The cleaned name if it is usable and free; a `DataError` when it is empty, too long or taken."""
    cleaned = (name or "").strip()
    if not cleaned:
        raise DataError("The dataset has no name", "name", "Type a name such as 'ratings 2024'")
    if len(cleaned) > MAX_NAME_LENGTH:
        raise DataError(f"The dataset name is {len(cleaned)} characters long", "name",
                        f"Use at most {MAX_NAME_LENGTH} characters")
    with session_scope() as session:
        clash = session.scalar(select(DatasetRow.id).where(func.lower(DatasetRow.name) == cleaned.lower()))
    if clash is not None and clash != ignore_id:
        raise DataError(f"A dataset named '{cleaned}' already exists", f"dataset {clash}",
                        "Choose another name, or rename or delete the existing dataset first")
    return cleaned


def _write_tables(dataset: Dataset, folder: Path) -> None:
    for name in _TABLES:
        frame = getattr(dataset, name)
        if frame is not None:
            frame.to_parquet(folder / f"{name}.parquet", index=False)


def save_dataset(dataset: Dataset, name: str, source: str, details: dict[str, Any] | None = None,
                 parent_id: int | None = None, extra_tables: dict[str, pd.DataFrame] | None = None) -> int:
    """Store `dataset` under `name` and return its id; on any failure nothing is left behind.

    A version made from another dataset names it as `parent_id` (lineage); `extra_tables` are kept beside the
    dataset's own files as `NAME.parquet` (such as which rows came from served feedback)."""
    name = check_dataset_name(name)
    root = get_settings().datasets_dir
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".incoming-", dir=root))
    final: Path | None = None
    try:
        _write_tables(dataset, staging)
        for table_name, frame in (extra_tables or {}).items():
            frame.to_parquet(staging / f"{table_name}.parquet", index=False)
        frame = dataset.interactions
        with session_scope() as session:
            row = DatasetRow(
                name=name, source=source, path="", feedback=dataset.feedback.to_json(),
                item_kinds=dict(dataset.item_kinds), user_kinds=dict(dataset.user_kinds),
                n_users=int(frame["user_id"].nunique()), n_items=int(frame["item_id"].nunique()),
                n_interactions=len(frame), fingerprint=dataset_fingerprint(dataset), details=dict(details or {}),
                parent_id=parent_id,
            )
            session.add(row)
            session.flush()
            # A random suffix: SQLite may reuse the id of a deleted dataset, whose folder must never be reused.
            final = root / f"{row.id}-{uuid.uuid4().hex[:8]}"
            row.path = str(final.relative_to(get_settings().home))
            staging.rename(final)
            dataset_id = row.id
    except IntegrityError as error:
        _remove(staging, final)
        raise DataError(f"A dataset named '{name}' already exists", "name",
                        "Choose another name, or rename or delete the existing dataset first") from error
    except BaseException:
        _remove(staging, final)
        raise
    return dataset_id


def _remove(*folders: Path | None) -> None:
    for folder in folders:
        if folder is not None and folder.exists():
            shutil.rmtree(folder, ignore_errors=True)


def _row(session, dataset_id: int) -> DatasetRow:
    row = session.get(DatasetRow, int(dataset_id))
    if row is None:
        raise DataError(f"There is no dataset with id {dataset_id}", "catalogue",
                        "Pick a dataset from the list; it may have been deleted")
    return row


def get_dataset_info(dataset_id: int) -> DatasetInfo:
    """The catalogue entry of one dataset."""
    with session_scope() as session:
        return _info(_row(session, dataset_id))


def list_datasets() -> list[DatasetInfo]:
    """All stored datasets, newest first."""
    with session_scope() as session:
        rows = session.scalars(select(DatasetRow).order_by(DatasetRow.id.desc())).all()
        return [_info(row) for row in rows]


def load_dataset(dataset_id: int) -> Dataset:
    """The stored dataset with this id, read from its Parquet files."""
    with session_scope() as session:
        row = _row(session, dataset_id)
        name, relative = row.name, row.path
        kinds = dict(row.item_kinds or {}), dict(row.user_kinds or {})
        feedback = Feedback.from_json(row.feedback or {})
    folder = get_settings().home / relative
    if not (folder / "interactions.parquet").is_file():
        raise DataError(f"The files of dataset '{name}' are missing", str(folder),
                        "Delete the dataset and add it again")
    tables = {t: pd.read_parquet(folder / f"{t}.parquet") if (folder / f"{t}.parquet").is_file() else None
              for t in _TABLES}
    return Dataset(interactions=tables["interactions"], items=tables["items"], users=tables["users"],
                   item_kinds=kinds[0], user_kinds=kinds[1], feedback=feedback, name=name)


def rename_dataset(dataset_id: int, new_name: str) -> str:
    """Give a dataset a new (free) name; returns the cleaned name."""
    cleaned = check_dataset_name(new_name, ignore_id=int(dataset_id))
    try:
        with session_scope() as session:
            _row(session, dataset_id).name = cleaned
    except IntegrityError as error:
        raise DataError(f"A dataset named '{cleaned}' already exists", "name", "Choose another name") from error
    return cleaned


def _derived_folders(row: DatasetRow, home: Path) -> list[Path]:
    """Split folders of the dataset's experiments and artifact folders of their runs, inside the data folder."""
    relative = [experiment.split_path for experiment in row.experiments]
    relative += [run.artifact_path for experiment in row.experiments for run in experiment.runs]
    folders = [home / path for path in relative if path]
    return [folder for folder in folders if folder.resolve().is_relative_to(home.resolve())]


def delete_dataset(dataset_id: int) -> None:
    """Delete a dataset, its files and (through the database's cascade) its experiments and runs with their files."""
    home = get_settings().home
    parked: tuple[Path, Path] | None = None
    try:
        with session_scope() as session:
            row = _row(session, dataset_id)
            derived = _derived_folders(row, home)
            folder = home / row.path if row.path else None
            if folder is not None and folder.is_dir() and folder.resolve().is_relative_to(home.resolve()):
                # Park the files under a hidden name first so a failed delete can put them back.
                trash = folder.with_name(f".deleting-{folder.name}")
                folder.rename(trash)
                parked = (trash, folder)
            session.delete(row)
    except BaseException:
        if parked is not None and parked[0].exists():
            parked[0].rename(parked[1])
        raise
    if parked is not None:
        shutil.rmtree(parked[0], ignore_errors=True)
    for stale in derived:
        shutil.rmtree(stale, ignore_errors=True)
