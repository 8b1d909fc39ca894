"""The catalogue stores, lists, renames and deletes datasets, keeping database and files in step on failure."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select

from engine.data import catalog
from engine.data.catalog import (dataset_fingerprint, delete_dataset, get_dataset_info, list_datasets, load_dataset,
                                 rename_dataset, save_dataset)
from engine.data.errors import DataError
from engine.data.synthetic import generate_synthetic
from engine.store.db import session_scope
from engine.store.tables import DatasetRow, ExperimentRow


def _folder_content(home: Path) -> list[str]:
    root = home / "datasets"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


def _row_count() -> int:
    with session_scope() as session:
        return session.scalar(select(func.count()).select_from(DatasetRow))


def test_a_saved_dataset_loads_back_identical(coldstart_home: Path):
    data = generate_synthetic(50, 40, 400, seed=1)
    dataset_id = save_dataset(data, "shop", "synthetic", {"seed": 1})
    back = load_dataset(dataset_id)
    pd.testing.assert_frame_equal(back.interactions, data.interactions)
    pd.testing.assert_frame_equal(back.items, data.items)
    pd.testing.assert_frame_equal(back.users, data.users)
    assert back.item_kinds == data.item_kinds and back.user_kinds == data.user_kinds
    assert back.feedback == data.feedback and back.name == "shop"
    info = get_dataset_info(dataset_id)
    assert (info.n_interactions, info.source, info.details) == (400, "synthetic", {"seed": 1})
    assert info.n_users == data.interactions["user_id"].nunique()
    assert info.fingerprint == dataset_fingerprint(data) == dataset_fingerprint(back)


def test_fingerprint_ignores_row_order_but_sees_content_changes():
    data = generate_synthetic(50, 40, 300, seed=2)
    shuffled = generate_synthetic(50, 40, 300, seed=2)
    shuffled.interactions = shuffled.interactions.sample(frac=1.0, random_state=0).reset_index(drop=True)
    changed = generate_synthetic(50, 40, 300, seed=2)
    changed.interactions.loc[0, "rating"] = 6.0 - changed.interactions.loc[0, "rating"] + 0.5
    assert dataset_fingerprint(data) == dataset_fingerprint(shuffled)
    assert dataset_fingerprint(data) != dataset_fingerprint(changed)


def test_a_name_clash_is_refused_and_leaves_nothing_behind(coldstart_home: Path):
    save_dataset(generate_synthetic(20, 20, 100), "Shop", "synthetic")
    before = (_row_count(), _folder_content(coldstart_home))
    with pytest.raises(DataError, match="named 'shop' already exists"):
        save_dataset(generate_synthetic(20, 20, 100), " shop ", "synthetic")
    assert (_row_count(), _folder_content(coldstart_home)) == before


def test_a_failure_while_writing_files_leaves_database_and_folder_unchanged(coldstart_home: Path, monkeypatch):
    save_dataset(generate_synthetic(20, 20, 100), "first", "synthetic")
    before = (_row_count(), _folder_content(coldstart_home))

    def broken_write(dataset, folder: Path) -> None:
        (folder / "interactions.parquet").write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(catalog, "_write_tables", broken_write)
    with pytest.raises(OSError, match="disk full"):
        save_dataset(generate_synthetic(20, 20, 100), "second", "synthetic")
    assert (_row_count(), _folder_content(coldstart_home)) == before


def test_a_failure_after_the_files_moved_in_rolls_everything_back(coldstart_home: Path, monkeypatch):
    before = (_row_count(), _folder_content(coldstart_home))
    real_rename = Path.rename

    def rename_then_fail(self: Path, target):
        real_rename(self, target)
        raise OSError("lost the connection")

    monkeypatch.setattr(Path, "rename", rename_then_fail)
    with pytest.raises(OSError):
        save_dataset(generate_synthetic(20, 20, 100), "doomed", "synthetic")
    monkeypatch.setattr(Path, "rename", real_rename)
    assert (_row_count(), _folder_content(coldstart_home)) == before


def test_datasets_are_listed_newest_first_and_can_be_renamed(coldstart_home: Path):
    first = save_dataset(generate_synthetic(20, 20, 100), "a", "synthetic")
    second = save_dataset(generate_synthetic(20, 20, 100, seed=1), "b", "synthetic")
    assert [d.id for d in list_datasets()] == [second, first]
    assert rename_dataset(first, "  renamed ") == "renamed"
    assert get_dataset_info(first).name == "renamed" and load_dataset(first).name == "renamed"
    with pytest.raises(DataError, match="already exists"):
        rename_dataset(first, "B")
    assert rename_dataset(second, "b") == "b"  # its own name is not a clash
    with pytest.raises(DataError, match="no name"):
        rename_dataset(first, "   ")


def test_deleting_removes_the_row_its_files_and_its_experiments(coldstart_home: Path):
    keep = save_dataset(generate_synthetic(20, 20, 100), "keep", "synthetic")
    only_keep = _folder_content(coldstart_home)
    gone = save_dataset(generate_synthetic(20, 20, 100, seed=3), "gone", "synthetic")
    with session_scope() as session:
        session.add(ExperimentRow(name="e", dataset_id=gone, protocol="warm"))
    delete_dataset(gone)
    assert [d.id for d in list_datasets()] == [keep]
    assert _folder_content(coldstart_home) == only_keep
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(ExperimentRow)) == 0
    with pytest.raises(DataError, match="no dataset with id"):
        load_dataset(gone)
    with pytest.raises(DataError, match="no dataset with id"):
        delete_dataset(gone)


def test_missing_files_are_reported_not_crashed_on(coldstart_home: Path):
    dataset_id = save_dataset(generate_synthetic(20, 20, 100), "x", "synthetic")
    for file in (coldstart_home / "datasets").rglob("interactions.parquet"):
        file.unlink()
    with pytest.raises(DataError, match="files of dataset 'x' are missing"):
        load_dataset(dataset_id)


def test_deleting_a_dataset_also_removes_its_experiments_split_files_and_run_artifacts(coldstart_home: Path):
    from engine.runs.experiments import create_experiment
    from engine.store.tables import RunRow

    keep = save_dataset(generate_synthetic(30, 25, 300), "keep", "synthetic")
    only_keep = _folder_content(coldstart_home)
    gone = save_dataset(generate_synthetic(30, 25, 300, seed=3), "gone", "synthetic")
    experiment_id = create_experiment(gone, "warm", {}, seed=1)
    artifact = coldstart_home / "artifacts" / "run-1"
    artifact.mkdir(parents=True)
    (artifact / "state.pt").write_bytes(b"tensors")
    with session_scope() as session:
        split_folder = coldstart_home / session.get(ExperimentRow, experiment_id).split_path
        session.add(RunRow(experiment_id=experiment_id, model="mostpop", status="done",
                           artifact_path=str(artifact.relative_to(coldstart_home))))
    assert split_folder.is_dir() and any(split_folder.iterdir())
    delete_dataset(gone)
    assert not split_folder.exists()
    assert not artifact.exists()
    assert _folder_content(coldstart_home) == only_keep
    assert [d.id for d in list_datasets()] == [keep]
